import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package version, read once from the nearest `package.json` named mesos-cri. */
export function readPackageVersion(): string {
  for (let dir = __dirname, i = 0; i < 6; dir = dirname(dir), i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mesos-cri' && pkg.version) return pkg.version;
    } catch {
      // not here; look one level up
    }
  }
  return '0.0.0';
}
