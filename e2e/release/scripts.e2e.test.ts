import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue 16: the README's two commands on a node that already runs another
 * runtime. run.sh installs only the daemon's needs, test.sh adds the test
 * tooling, and no script starts, stops, disables or reconfigures a service.
 */
const ROOT = join(__dirname, '..', '..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

function aptList(script: string, name: string): string[] {
  const m = new RegExp(`^${name}=\\(\\n([\\s\\S]*?)^\\)`, 'm').exec(script);
  if (!m) throw new Error(`${name} not found`);
  return m[1]!
    .split('\n')
    .map((l) => l.replace(/#.*/, ''))
    .join(' ')
    .split(/\s+/)
    .filter(Boolean);
}

describe('setup scripts', () => {
  const setup = read('scripts/setup.sh');
  const runtime = aptList(setup, 'APT_PACKAGES');
  const testOnly = aptList(setup, 'APT_TEST_PACKAGES');

  it('keeps test tooling out of what run.sh installs', () => {
    for (const p of ['docker-registry', 'skopeo', 'umoci', 'apache2-utils', 'containerd', 'busybox-static']) {
      expect(runtime).not.toContain(p);
      expect(testOnly).toContain(p);
    }
    for (const p of ['runc', 'conmon', 'catatonit', 'containernetworking-plugins']) expect(runtime).toContain(p);
    expect(read('scripts/run.sh')).toMatch(/^bash scripts\/setup\.sh --runtime-only$/m);
    expect(read('scripts/test.sh')).toMatch(/^bash scripts\/setup\.sh --with-test-tools$/m);
    expect(read('.ci/run')).toMatch(/^exec bash scripts\/test\.sh$/m);
  });

  it('never touches a service: no systemctl, service, invoke-rc.d or kill in the scripts', () => {
    for (const f of ['scripts/setup.sh', 'scripts/run.sh', 'scripts/test.sh', 'scripts/build-deb.sh']) {
      let text: string;
      try {
        text = read(f);
      } catch {
        continue;
      }
      const code = text.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
      expect(code, f).not.toMatch(/\b(systemctl|invoke-rc\.d|service\s+\w+\s+(stop|start|restart)|pkill|killall|update-rc\.d)\b/);
    }
    // Packages are installed with service starts denied, and an operator's policy-rc.d is kept.
    expect(setup).toMatch(/policy-rc\.d/);
    expect(setup).toMatch(/if \[ ! -e "\$policy" \]/);
  });

  it('refuses an unknown mode with exit code 2 before installing anything', () => {
    const r = spawnSync('bash', [join(ROOT, 'scripts/setup.sh'), '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown option --bogus');
  });
});
