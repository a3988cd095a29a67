import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseGroup, parsePasswd, resolveUser, resolveUserFrom, type UserRequest } from './users';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
broken line
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
wheel:x:10:app,root
app:x:1000:
audio:x:29:app
staff:x:50:
`;

const req = (user: string, over: Partial<UserRequest> = {}): UserRequest => ({ user, field: 'image config User', supplementalGroups: [], ...over });

describe('parsing', () => {
  it('reads passwd and group entries and skips junk', () => {
    const p = parsePasswd(PASSWD);
    expect(p.map((e) => e.name)).toEqual(['root', 'daemon', 'app', 'nobody']);
    expect(p[2]).toEqual({ name: 'app', uid: 1000, gid: 1000, home: '/home/app' });
    const g = parseGroup(GROUP);
    expect(g.find((x) => x.name === 'wheel')!.members).toEqual(['app', 'root']);
  });
});

describe('resolveUserFrom', () => {
  const passwd = parsePasswd(PASSWD);
  const groups = parseGroup(GROUP);
  const resolve = (r: UserRequest) => resolveUserFrom(passwd, groups, r);

  it('defaults to root with its groups and home', () => {
    expect(resolve(req(''))).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
  });

  it('resolves a name to its uid, primary gid, memberships and home', () => {
    expect(resolve(req('app'))).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/app' });
  });

  it('accepts a uid with or without a passwd entry', () => {
    expect(resolve(req('1'))).toMatchObject({ uid: 1, gid: 1, home: '/usr/sbin' });
    expect(resolve(req('4242'))).toEqual({ uid: 4242, gid: 0, additionalGids: [0], home: '/' });
  });

  it('accepts name:group, uid:gid and mixes', () => {
    expect(resolve(req('app:staff'))).toMatchObject({ uid: 1000, gid: 50 });
    expect(resolve(req('1000:29'))).toMatchObject({ uid: 1000, gid: 29 });
    expect(resolve(req('4242:staff'))).toMatchObject({ uid: 4242, gid: 50 });
  });

  it('lets run_as_group override the group part', () => {
    expect(resolve(req('app:staff', { group: 7n }))).toMatchObject({ uid: 1000, gid: 7 });
  });

  it('appends supplemental groups without duplicates', () => {
    expect(resolve(req('app', { supplementalGroups: [29n, 3000n] })).additionalGids).toEqual([1000, 10, 29, 3000]);
  });

  it('names the field when a user or group does not exist', () => {
    expect(() => resolve(req('ghost', { field: 'linux.security_context.run_as_username' }))).toThrow(
      expect.objectContaining({ code: 'NotFound', message: expect.stringContaining('run_as_username') }),
    );
    expect(() => resolve(req('app:ghosts'))).toThrow(expect.objectContaining({ code: 'NotFound', message: expect.stringContaining('image config User') }));
  });

  it('rejects ids out of range', () => {
    expect(() => resolve(req('4294967295'))).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    expect(() => resolve(req('app', { group: -1n, groupField: 'x.run_as_group' }))).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('x.run_as_group') }),
    );
  });
});

describe('resolveUser', () => {
  let root: string;
  let outside: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'oci-users-'));
    outside = await mkdtemp(join(tmpdir(), 'oci-users-host-'));
    await mkdir(join(root, 'etc'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('reads the rootfs databases', async () => {
    await writeFile(join(root, 'etc/passwd'), PASSWD);
    await writeFile(join(root, 'etc/group'), GROUP);
    expect(await resolveUser(root, req('app'))).toMatchObject({ uid: 1000, gid: 1000, additionalGids: [1000, 10, 29] });
  });

  it('treats missing files as empty: numeric users work, names do not', async () => {
    expect(await resolveUser(root, req('123:456'))).toEqual({ uid: 123, gid: 456, additionalGids: [456], home: '/' });
    await expect(resolveUser(root, req('app'))).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('never follows a symlink out of the rootfs', async () => {
    // A hostile image points /etc/passwd at an absolute path; the host file there must not be read.
    await writeFile(join(outside, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
    await symlink(join(outside, 'passwd'), join(root, 'etc/passwd'));
    await expect(resolveUser(root, req('evil'))).rejects.toMatchObject({ code: 'NotFound' });
  });
});
