/**
 * Pod cgroups made as kubelet makes them before RunPodSandbox (cgroupfs
 * driver): `/<root>/pod<uid>` in every v1 hierarchy, cpuset seeded from its
 * parent. The pod's `cgroup_parent` names it, so both runtimes account the
 * pod where kubelet would read it (containerd 1.6 refuses pod stats without
 * one). `<root>` is unique to this run and removed whole at the end.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CGROUP_ROOT, removeCgroups, removeNewCgroups } from '../support/host';

function v1Hierarchies(): string[] {
  return readdirSync(CGROUP_ROOT)
    .map((h) => join(CGROUP_ROOT, h))
    .filter((d) => {
      try {
        return statSync(d).isDirectory() && !readdirSync(d).includes('cgroup.controllers');
      } catch {
        return false;
      }
    });
}

/** Seeds an empty `cpuset.cpus`/`cpuset.mems` from the parent, as libcontainer does. */
function seedCpuset(dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    if (readFileSync(join(dir, f), 'utf8').trim() === '') {
      const parent = join(dirname(dir), f);
      if (readFileSync(parent, 'utf8').trim() === '') seedCpuset(dirname(dir));
      copyFileSync(parent, join(dir, f));
    }
  }
}

export class PodCgroups {
  readonly #hierarchies = v1Hierarchies();

  constructor(readonly root: string) {}

  /** Creates the pod's cgroup and returns the `cgroup_parent` to send. */
  make(uid: string): string {
    const path = `/${this.root}/pod${uid}`;
    for (const h of this.#hierarchies) {
      const dir = join(h, path);
      mkdirSync(dir, { recursive: true });
      if (h.endsWith('/cpuset')) {
        seedCpuset(dirname(dir));
        seedCpuset(dir);
      }
    }
    // Limits stay unset, as for a best-effort pod.
    return path;
  }

  async remove(path: string): Promise<void> {
    await removeCgroups(this.#hierarchies.map((h) => join(h, path)));
  }

  /** Everything under `root` (pods a failed run left); returns what stayed. */
  removeAll(): Promise<string[]> {
    return removeNewCgroups(this.root, new Set());
  }
}
