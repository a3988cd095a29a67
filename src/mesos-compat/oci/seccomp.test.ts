import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { DEFAULT_CAPABILITIES } from './capabilities';
import { buildSeccomp, buildSeccompSync, compareKernel, convertProfile, runtimeDefaultSeccomp } from './seccomp';
import type { OciSeccomp } from './types';

const allowed = (p: OciSeccomp): Set<string> =>
  new Set(p.syscalls!.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names));
const opts = { privileged: false, bounding: DEFAULT_CAPABILITIES, field: 'linux.security_context.seccomp' };

describe('RuntimeDefault', () => {
  it('denies by default with EPERM and allows ordinary syscalls', () => {
    const p = runtimeDefaultSeccomp(DEFAULT_CAPABILITIES, 'x64');
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const a = allowed(p);
    for (const n of ['read', 'write', 'openat', 'execve', 'exit_group', 'arch_prctl', 'chroot', 'futex']) expect(a).toContain(n);
    for (const n of ['mount', 'unshare', 'setns', 'reboot', 'kexec_load', 'init_module', 'bpf', 'io_uring_setup', 'keyctl']) expect(a).not.toContain(n);
  });

  it('allows clone only without namespace flags and makes clone3 fall back', () => {
    const p = runtimeDefaultSeccomp(DEFAULT_CAPABILITIES, 'x64');
    const clone = p.syscalls!.find((s) => s.names.includes('clone'))!;
    expect(clone.args).toEqual([{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    expect(p.syscalls!.find((s) => s.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('unlocks syscalls guarded by capabilities the container holds', () => {
    const p = runtimeDefaultSeccomp([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], 'x64');
    const a = allowed(p);
    for (const n of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'process_vm_readv']) expect(a).toContain(n);
    expect(p.syscalls!.some((s) => s.action === 'SCMP_ACT_ERRNO')).toBe(false);
  });

  it('drops chroot without CAP_SYS_CHROOT and uses arm syscalls on arm64', () => {
    expect(allowed(runtimeDefaultSeccomp([], 'x64'))).not.toContain('chroot');
    const arm = runtimeDefaultSeccomp([], 'arm64');
    expect(arm.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(allowed(arm)).toContain('set_tls');
    expect(allowed(arm)).not.toContain('arch_prctl');
  });
});

describe('buildSeccomp', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-seccomp-'));
    await writeFile(join(dir, 'bad.json'), '{ not json');
    await writeFile(
      join(dir, 'docker.json'),
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 38,
        archMap: [
          { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
          { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
        ],
        syscalls: [
          { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
          { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
          { names: ['chroot'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, excludes: { caps: ['CAP_SYS_CHROOT'] } },
          { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
          { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
          { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '99.0' } },
          { name: 'personality', action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
        ],
      }),
    );
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('gives no filter to Unconfined and privileged containers', async () => {
    expect(await buildSeccomp({ kind: 'unconfined' }, opts, background())).toBeUndefined();
    expect(await buildSeccomp({ kind: 'runtime-default' }, { ...opts, privileged: true }, background())).toBeUndefined();
    // Privileged wins even over a Localhost profile that does not exist (containerd checks privileged first).
    expect(await buildSeccomp({ kind: 'localhost', path: join(dir, 'missing.json') }, { ...opts, privileged: true }, background())).toBeUndefined();
  });

  it('builds RuntimeDefault for the bounding set', async () => {
    const p = await buildSeccomp({ kind: 'runtime-default' }, opts, background());
    expect(allowed(p!)).toContain('read');
    expect(allowed(p!)).not.toContain('mount');
  });

  it('converts a Docker-format Localhost profile for our arch and caps', async () => {
    const p = await buildSeccomp({ kind: 'localhost', path: join(dir, 'docker.json') }, opts, background());
    const sync = buildSeccompSync({ kind: 'localhost', path: join(dir, 'docker.json') }, opts);
    expect(sync).toEqual(p);
    expect(p!.defaultErrnoRet).toBe(38);
    const names = p!.syscalls!.map((s) => s.names[0]);
    expect(names).toContain('read');
    expect(names).not.toContain('mount'); // needs CAP_SYS_ADMIN
    expect(names).not.toContain('chroot'); // excluded: we hold CAP_SYS_CHROOT
    expect(names).not.toContain('ptrace'); // kernel too old for it
    expect(p!.syscalls!.find((s) => s.names[0] === 'personality')!.args).toEqual([{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }]);
  });

  it('selects arch-specific rules', () => {
    const raw = { defaultAction: 'SCMP_ACT_ERRNO', archMap: [{ architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }], syscalls: [
      { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
    ] };
    const p = convertProfile(raw, [], 'f', 'arm64', '6.1.0');
    expect(p.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(p.syscalls!.map((s) => s.names[0])).toEqual(['set_tls']);
  });

  it('reports a missing profile as NotFound and a broken one as InvalidArgument, naming the field', async () => {
    await expect(buildSeccomp({ kind: 'localhost', path: join(dir, 'missing.json') }, opts, background())).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringContaining('linux.security_context.seccomp'),
    });
    expect(() => buildSeccompSync({ kind: 'localhost', path: join(dir, 'missing.json') }, opts)).toThrow(expect.objectContaining({ code: 'NotFound' }));
    await expect(buildSeccomp({ kind: 'localhost', path: join(dir, 'bad.json') }, opts, background())).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(buildSeccomp({ kind: 'localhost', path: 'relative.json' }, opts, background())).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(() => convertProfile({ defaultAction: 'SCMP_ACT_NOPE' }, [], 'f')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });
});

describe('compareKernel', () => {
  it('orders versions numerically', () => {
    expect(compareKernel('6.18.44-fc-v669', '4.8')).toBeGreaterThan(0);
    expect(compareKernel('4.8.0', '4.8')).toBe(0);
    expect(compareKernel('4.10', '4.8')).toBeGreaterThan(0);
    expect(compareKernel('3.2', '4.8')).toBeLessThan(0);
  });
});

describe('Localhost profiles a pod points at', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'seccomp-hostile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const load = (path: string) => buildSeccomp({ kind: 'localhost', path }, opts, background());
  const refusal = async (path: string): Promise<{ code: string; message: string }> => {
    try {
      await load(path);
    } catch (err) {
      const e = err as { code: string; message: string; cause?: unknown };
      expect(e.cause === undefined || !String((e.cause as Error).message).includes('s3cret')).toBe(true);
      return { code: e.code, message: e.message };
    }
    throw new Error(`accepted ${path}`);
  };

  it('refuses a FIFO at once instead of blocking the daemon', async () => {
    const fifo = join(dir, 'fifo');
    const { spawnSync } = await import('node:child_process');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const t = Date.now();
    const r = await refusal(fifo);
    expect(Date.now() - t).toBeLessThan(1000);
    expect(r).toMatchObject({ code: 'InvalidArgument', message: expect.stringContaining('not a regular file') });
  });

  it('never quotes the file it read back: a non-JSON file, a bad action, a bad argument rule', async () => {
    const shadow = join(dir, 'shadow');
    await writeFile(shadow, 'root:$y$j9T$s3cret:19000:0:99999:7:::\n');
    const badAction = join(dir, 'action.json');
    await writeFile(badAction, JSON.stringify({ defaultAction: 's3cret' }));
    const badArg = join(dir, 'arg.json');
    await writeFile(badArg, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ s3cret: 1 }] }] }));
    for (const f of [shadow, badAction, badArg]) {
      const r = await refusal(f);
      expect(r.code).toBe('InvalidArgument');
      expect(r.message).not.toContain('s3cret');
      expect(r.message).not.toContain('root:');
    }
  });

  it('refuses a final symlink, a directory and an oversized file', async () => {
    const { symlink, mkdir, truncate } = await import('node:fs/promises');
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
    await expect(load(good)).resolves.toMatchObject({ defaultAction: 'SCMP_ACT_ALLOW' });
    await symlink(good, join(dir, 'link.json'));
    expect(await refusal(join(dir, 'link.json'))).toMatchObject({ code: 'InvalidArgument', message: expect.stringContaining('symbolic link') });
    await mkdir(join(dir, 'd'));
    expect((await refusal(join(dir, 'd'))).message).toContain('not a regular file');
    await writeFile(join(dir, 'big.json'), '');
    await truncate(join(dir, 'big.json'), 2 << 20);
    expect((await refusal(join(dir, 'big.json'))).message).toContain('larger than');
  });
});
