import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The lint (eslint.config.mjs) must keep biting: each structure rule is run, as configured,
 * on a small tree of fixtures that breaks it, so a rule that is switched off, loosened or
 * pointed at the wrong paths fails here. The repo's own tree is linted by scripts/test.sh.
 */
const repo = resolve(__dirname, '..');

/** The real config, its layer zones rooted at `root` instead of the checkout. */
async function configRootedAt(root: string): Promise<Linter.Config[]> {
  const mod = (await import(join(repo, 'eslint.config.mjs'))) as { default: Linter.Config[] };
  return mod.default.map((c) => {
    const rule = c.rules?.['import-x/no-restricted-paths'];
    if (!Array.isArray(rule)) return c;
    const [level, opts] = rule as [Linter.RuleSeverity, { basePath: string }];
    expect(resolve(opts.basePath)).toBe(repo);
    return { ...c, rules: { ...c.rules, 'import-x/no-restricted-paths': [level, { ...opts, basePath: root }] } };
  });
}

const lines = (n: number): string => Array.from({ length: n }, (_, i) => `export const v${i} = ${i};`).join('\n') + '\n';

const FIXTURES: Record<string, string> = {
  'src/main.ts': "import { handler } from './shim/handler';\nexport const main = handler;\n",
  'src/shim/handler.ts': "import { spec } from '../mesos-compat/spec';\nimport { server } from '../streaming/server';\nexport const handler = [spec, server];\n",
  'src/shim/to-main.ts': "import { main } from '../main';\nexport const m = main;\n",
  'src/streaming/server.ts': "import { now } from '../common/clock';\nexport const server = now;\n",
  'src/streaming/to-runtime.ts': "import { spec } from '../mesos-compat/spec';\nexport const s = spec;\n",
  'src/newroom/thing.ts': "export const thing = 1;\n",
  'src/cni/to-new.ts': "import { thing } from '../newroom/thing';\nexport const t = thing;\n",
  'src/mesos-compat/spec.ts': "import { store } from '../provisioner/store';\nimport { net } from '../cni/net';\nimport { now } from '../common/clock';\nexport const spec = [store, net, now];\n",
  'src/mesos-compat/up.ts': "import { handler } from '../shim/handler';\nexport const up = handler;\n",
  'src/provisioner/store.ts': "import { now } from '../common/clock';\nexport const store = now;\n",
  'src/provisioner/sideways.ts': "import { net } from '../cni/net';\nexport const sideways = net;\n",
  'src/cni/net.ts': "export const net = 1;\n",
  'src/cni/grpc.ts': "import { Server } from '@grpc/grpc-js';\nexport const s = Server;\n",
  'src/common/clock.ts': "export const now = 1;\n",
  'src/common/up.ts': "import { handler } from '../shim/handler';\nexport const up = handler;\n",
  'src/common/typed-up.ts': "import type { store } from '../provisioner/store';\nexport type T = typeof store;\n",
  'src/common/to-e2e.ts': "import { helper } from '../../e2e/helper';\nexport const h = helper;\n",
  'src/common/cycle-a.ts': "import { b } from './cycle-b';\nexport const a = (): number => b + 1;\n",
  'src/common/cycle-b.ts': "import { a } from './cycle-a';\nexport const b = 1;\nexport const useA = a;\n",
  'src/common/long-ok.ts': lines(400),
  'src/common/long-bad.ts': lines(401),
  'e2e/helper.ts': "import { handler } from '../src/shim/handler';\nexport const helper = handler;\n",
};

describe('eslint.config.mjs', () => {
  let root: string;
  const found = new Map<string, string[]>();
  const rulesOf = (file: string): string[] => found.get(file) ?? [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'mcri-lint-'));
    for (const [rel, text] of Object.entries(FIXTURES)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), text);
    }
    const eslint = new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: await configRootedAt(root) });
    for (const r of await eslint.lintFiles(['src', 'e2e'])) {
      const rel = r.filePath.slice(root.length + 1);
      found.set(rel, r.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`));
    }
  }, 60_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('lints every fixture, without parse errors', () => {
    expect([...found.keys()].sort()).toEqual(Object.keys(FIXTURES).sort());
    expect([...found.values()].flat().filter((r) => r.startsWith('fatal'))).toEqual([]);
  });

  it('lets imports run down the layers', () => {
    for (const f of ['src/main.ts', 'src/shim/handler.ts', 'src/streaming/server.ts', 'src/mesos-compat/spec.ts', 'src/provisioner/store.ts', 'src/cni/net.ts', 'src/common/clock.ts', 'e2e/helper.ts']) {
      expect(rulesOf(f), f).toEqual([]);
    }
  });

  it('reports imports that run up or sideways', () => {
    expect(rulesOf('src/common/up.ts')).toEqual(['import-x/no-restricted-paths']);
    expect(rulesOf('src/common/typed-up.ts')).toEqual(['import-x/no-restricted-paths']);
    expect(rulesOf('src/mesos-compat/up.ts')).toEqual(['import-x/no-restricted-paths']);
    expect(rulesOf('src/provisioner/sideways.ts')).toEqual(['import-x/no-restricted-paths']);
    expect(rulesOf('src/common/to-e2e.ts')).toEqual(['import-x/no-restricted-paths']);
    expect(rulesOf('src/shim/to-main.ts')).toEqual(['import-x/no-restricted-paths']);
    expect(rulesOf('src/streaming/to-runtime.ts')).toEqual(['import-x/no-restricted-paths']);
    // A folder the config does not place yet is off limits to the layers below.
    expect(rulesOf('src/cni/to-new.ts')).toEqual(['import-x/no-restricted-paths']);
  });

  it('keeps gRPC in src/shim', () => {
    expect(rulesOf('src/cni/grpc.ts')).toEqual(['no-restricted-imports']);
  });

  it('reports both ends of an import cycle', () => {
    expect(rulesOf('src/common/cycle-a.ts')).toEqual(['import-x/no-cycle']);
    expect(rulesOf('src/common/cycle-b.ts')).toEqual(['import-x/no-cycle']);
  });

  it('allows 400 lines and reports 401', () => {
    expect(rulesOf('src/common/long-ok.ts')).toEqual([]);
    expect(rulesOf('src/common/long-bad.ts')).toEqual(['max-lines']);
  });
});

describe('scripts/import-graph.mjs on this tree', () => {
  it('finds no cycle, type-only imports included, and no import running up a layer', () => {
    const out = execFileSync(process.execPath, [join(repo, 'scripts/import-graph.mjs'), repo, '--tests'], { cwd: repo, encoding: 'utf8' });
    // On failure the report names the files: break a type-only cycle by moving the shared type down.
    expect(out.slice(out.indexOf('\nedges against the layering:'))).toBe('\nedges against the layering: none\ncycles, all imports: none\ncycles, runtime imports only: none\n');
  });

  it('sees a cycle through a type-only import (which import-x/no-cycle skips)', () => {
    const root = mkdtempSync(join(tmpdir(), 'mcri-graph-'));
    try {
      mkdirSync(join(root, 'src/common'), { recursive: true });
      writeFileSync(join(root, 'src/common/a.ts'), "import type { B } from './b';\nexport interface A { b?: B }\n");
      writeFileSync(join(root, 'src/common/b.ts'), "import type { A } from './a';\nexport interface B { a?: A }\n");
      const out = execFileSync(process.execPath, [join(repo, 'scripts/import-graph.mjs'), root], { cwd: repo, encoding: 'utf8' });
      expect(out).toContain('cycles, all imports: \n  common/a.ts <-> common/b.ts');
      expect(out).toContain('cycles, runtime imports only: none');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
