import { parseMountInfo } from '../../common/mountinfo';

/**
 * How a host mounts cgroups (runc's `cgroups.IsCgroup2UnifiedMode` and
 * systemd's `cg_unified`):
 *
 *     v1       cgroup (v1) hierarchies under /sys/fs/cgroup, no cgroup2 mount
 *     hybrid   v1 hierarchies, plus a cgroup2 mount below /sys/fs/cgroup
 *              (systemd's /sys/fs/cgroup/unified; some controllers, such as
 *              hugetlb on this project's CI hosts, may be bound to it)
 *     unified  cgroup2 mounted at /sys/fs/cgroup itself: one tree, whose root
 *              lists its controllers in cgroup.controllers
 *
 * The daemon treats hybrid as v1: runc's cgroupfs manager only uses the v1
 * hierarchies there.
 */
/** Super options of a v1 cgroup mount that name no controller. */
const NOT_CONTROLLERS = new Set(['rw', 'ro', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'favordynmods']);

export type CgroupLayout = 'v1' | 'hybrid' | 'unified';

export interface LayoutInfo {
  readonly layout: CgroupLayout;
  /** Where the cgroup2 filesystem is mounted, if anywhere under `root`. */
  readonly v2Mount?: string;
  /** unified: the root's `cgroup.controllers`; v1/hybrid: the v1 hierarchies' controllers. */
  readonly controllers: readonly string[];
}

/**
 * Reads the layout from a mountinfo table. `controllersOf` reads the v2
 * root's `cgroup.controllers` (undefined when absent). A cgroup2 mount at
 * `root` without that file is not taken as unified.
 */
export function detectCgroupLayout(mountInfo: string, controllersOf: () => string | undefined, root = '/sys/fs/cgroup'): LayoutInfo {
  let v2Mount: string | undefined;
  const v1 = new Set<string>();
  for (const { mountPoint, fsType, superOptions } of parseMountInfo(mountInfo)) {
    if (fsType === 'cgroup2' && (mountPoint === root || mountPoint.startsWith(`${root}/`))) v2Mount = mountPoint;
    if (fsType !== 'cgroup' || superOptions.some((o) => o.startsWith('name='))) continue;
    for (const o of superOptions) if (/^[a-z_]+$/.test(o) && !NOT_CONTROLLERS.has(o)) v1.add(o);
  }
  if (v2Mount === root) {
    const text = controllersOf();
    if (text !== undefined) return { layout: 'unified', v2Mount, controllers: text.trim().split(/\s+/).filter(Boolean) };
  }
  return { layout: v2Mount ? 'hybrid' : 'v1', ...(v2Mount ? { v2Mount } : {}), controllers: [...v1].sort() };
}
