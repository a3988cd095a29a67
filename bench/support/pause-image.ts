/**
 * A pause image for the reference containerd, built locally (nothing is
 * pulled from the internet): one layer holding Debian's static `catatonit`
 * as `/pause`, run in pause mode, the same infra process mesos-cri uses.
 */
import { readFileSync } from 'node:fs';
import { buildImage, buildLayer, pushImage } from '../../e2e/support/images';
import type { TestRegistry } from '../../e2e/support/registry';

export const CATATONIT = '/usr/bin/catatonit';

/** Pushes the pause image as `nameTag` and returns its pullable reference. */
export async function pushPause(reg: TestRegistry, nameTag = 'bench/pause:3.6'): Promise<string> {
  const layer = await buildLayer([{ name: 'pause', content: readFileSync(CATATONIT), mode: 0o755 }]);
  const img = buildImage([layer], { entrypoint: ['/pause', '-P'], cmd: [] });
  return (await pushImage(reg, nameTag, img)).ref;
}
