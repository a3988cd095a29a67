import { describe, expect, it } from 'vitest';
import { containerLogPath } from './launch';
import { checkCgroupParent } from './oci/sandbox-spec';

describe('paths a pod spec names', () => {
  it('keeps log_path under log_directory, an absolute one included (joined as containerd joins them)', () => {
    const dir = '/var/log/pods/ns_pod_uid';
    expect(containerLogPath(dir, 'ctr/0.log')).toBe(`${dir}/ctr/0.log`);
    expect(containerLogPath(dir, '/etc/shadow')).toBe(`${dir}/etc/shadow`);
    expect(containerLogPath(dir, 'a/../b.log')).toBe(`${dir}/b.log`);
    for (const p of ['../x.log', '../../../../etc/cron.d/x', '/../../etc/x', 'ctr/../../x', '..']) {
      expect(() => containerLogPath(dir, p)).toThrow(expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining("leaves the pod's log_directory") }));
    }
  });

  it('keeps cgroup_parent under the cgroup root', () => {
    for (const p of ['', '/kubepods/burstable/pod1234', 'kubepods', '/kubepods.slice/kubepods-besteffort.slice']) expect(() => checkCgroupParent(p)).not.toThrow();
    for (const p of ['/../../etc', '/kubepods/../../x', '..', '/', '/a/./b', '/a b', '/a\nb']) {
      expect(() => checkCgroupParent(p)).toThrow(expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('linux.cgroup_parent') }));
    }
  });
});
