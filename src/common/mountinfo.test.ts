import { describe, expect, it } from 'vitest';
import { parseMountInfo, readMountInfo, readMountInfoSync, unescapeMountInfo } from './mountinfo';

describe('parseMountInfo', () => {
  it('reads every field of the proc(5) example, optional fields included', () => {
    const [e, ...rest] = parseMountInfo('36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n');
    expect(rest).toEqual([]);
    expect(e).toEqual({
      mountId: 36,
      parentId: 35,
      device: '98:0',
      root: '/mnt1',
      mountPoint: '/mnt2',
      mountOptions: ['rw', 'noatime'],
      optional: ['master:1', 'shared:2'],
      fsType: 'ext3',
      source: '/dev/root',
      superOptions: ['rw', 'errors=continue'],
    });
  });

  it('takes a line without optional fields (a private mount)', () => {
    const [e] = parseMountInfo('25 1 0:22 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory');
    expect(e).toMatchObject({ mountPoint: '/sys/fs/cgroup/memory', optional: [], fsType: 'cgroup', source: 'cgroup', superOptions: ['rw', 'memory'] });
  });

  it('decodes octal escapes in root, mount point and source, not elsewhere', () => {
    const [e] = parseMountInfo('40 25 8:1 /a\\040b /mnt/with\\040space\\011tab\\012nl\\134bs rw shared:7 - ext4 /dev/my\\040disk rw');
    expect(e).toMatchObject({ root: '/a b', mountPoint: '/mnt/with space\ttab\nnl\\bs', source: '/dev/my disk', optional: ['shared:7'] });
    expect(unescapeMountInfo('\\040\\0401\\9')).toBe('  1\\9');
  });

  it('finds the separator, not a "-" that is a field of its own before the optional fields end', () => {
    // A mount point literally named "-" sits in field 5, before the optional fields: not the separator.
    const [e] = parseMountInfo('41 25 0:50 / - rw master:3 - tmpfs tmpfs rw,size=64k');
    expect(e).toMatchObject({ mountPoint: '-', optional: ['master:3'], fsType: 'tmpfs', superOptions: ['rw', 'size=64k'] });
  });

  it('skips blank and malformed lines', () => {
    const t = parseMountInfo('\n36 35 98:0 / /x rw\n37 35 98:0 / /y rw - ext4\n38 35 98:0 / /z rw - ext4 /dev/z rw\n');
    expect(t.map((e) => e.mountPoint)).toEqual(['/z']);
  });

  it('reads this process table, with / and /proc in it', async () => {
    const sync = readMountInfoSync();
    const async = await readMountInfo();
    for (const t of [sync, async]) expect(t.map((e) => e.mountPoint)).toEqual(expect.arrayContaining(['/', '/proc']));
  });
});
