import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { background } from '../common/ctx';
import type { Containerizer } from '../mesos-compat/containerizer';
import { applyDocument, defaults, loadConfigWithSources, parseCli } from './config';
import { runtimeHandlerList } from './config-runtimes';
import { defaultConfigText, validateConfigFile } from './cli/config-cmd';
import type { ShimDeps } from './deps';
import { runPodSandbox } from './runtime/run-pod-sandbox';
import { status } from './runtime/runtime-status';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cfgrt-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('runtime handlers configuration', () => {
  it('defaults to the one runc handler of the runtime.* keys, shown by config default', () => {
    const c = defaults();
    expect(c.runtimes).toEqual({ runc: { type: '', path: '', root: '' } });
    expect(c.defaultRuntime).toBe('runc');
    expect(runtimeHandlerList(c)).toEqual([{ name: 'runc', type: '', path: '', root: '' }]);
    const parsed = parseYaml(defaultConfigText()) as Record<string, unknown>;
    expect(parsed.runtimes).toEqual(c.runtimes);
    expect(parsed.defaultRuntime).toBe('runc');
  });

  it('merges drop-ins per handler and takes the default from any layer or the flag', async () => {
    const d = tmp();
    const file = join(d, 'config.yaml');
    writeFileSync(file, 'runtimes:\n  wrapped:\n    path: /opt/bin/runc-wrap\n    root: /run/wrapped\n');
    mkdirSync(join(d, 'config.d'));
    writeFileSync(join(d, 'config.d', '10-b.yaml'), 'runtimes:\n  crun:\n    type: crun\n    path: /usr/bin/crun\ndefaultRuntime: wrapped\n');
    const { config, sources } = await loadConfigWithSources(parseCli(['--config', file]));
    expect(Object.keys(config.runtimes)).toEqual(['runc', 'wrapped', 'crun']);
    expect(config.runtimes.crun).toEqual({ type: 'crun', path: '/usr/bin/crun', root: '' });
    expect(sources.defaultRuntime).toBe(join(d, 'config.d', '10-b.yaml'));
    expect(runtimeHandlerList(config).map((h) => h.name)).toEqual(['wrapped', 'runc', 'crun']);
    const flagged = await loadConfigWithSources(parseCli(['--config', file, '--config-dir', join(d, 'none'), '--default-runtime', 'runc']));
    expect(flagged.config.defaultRuntime).toBe('runc');
    await expect(loadConfigWithSources(parseCli(['--config', file, '--default-runtime', 'kata']))).rejects.toThrow(/"defaultRuntime": "kata" is not one of runtimes \(runc, wrapped, crun\)/);
  });

  it.each([
    ['../x', 'must be a DNS label'],
    ['a/b', 'must be a DNS label'],
    ['a\u0000b', 'must be a DNS label'],
    ['Runc', 'must be a DNS label'],
    ['__proto__', 'must be a DNS label'],
    ['x'.repeat(64), 'must be a DNS label'],
  ])('refuses the handler name %j', (name, why) => {
    expect(() => applyDocument(defaults(), { runtimes: { [name]: { path: '/usr/sbin/runc' } } }, 'test.yaml')).toThrow(why);
  });

  it.each([
    [{ path: 'runc' }, 'path must be an absolute path'],
    [{ path: '/usr/sbin/../../tmp/runc' }, 'path must be an absolute path'],
    [{ root: 'state' }, 'root must be an absolute path'],
    [{ root: '/run/x\u0000y' }, 'root must be an absolute path'],
    [{ type: 'kata' }, 'type must be runc or crun'],
    [{ binary: '/x' }, 'unknown field "binary"'],
    ['str', 'must be a map'],
  ])('refuses the handler %j', (h, why) => {
    expect(() => applyDocument(defaults(), { runtimes: { ok: h } }, 'test.yaml')).toThrow(why);
  });

  it('manifests/runtimeclass.yaml: the first class names the default handler, the others valid handler names', () => {
    const docs = parseAllDocuments(readFileSync(join(__dirname, '..', '..', 'manifests', 'runtimeclass.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; handler: string });
    expect(docs.every((d) => d.kind === 'RuntimeClass')).toBe(true);
    expect(docs[0]!.handler).toBe(defaults().defaultRuntime);
    expect(Object.keys(defaults().runtimes)).toContain(docs[0]!.handler);
    for (const d of docs) expect(() => applyDocument(defaults(), { runtimes: { [d.handler]: {} } }, 'manifest')).not.toThrow();
    expect(docs.length).toBeGreaterThan(1);
  });

  it('config validate names the file and key, and checks the default where the file declares handlers', async () => {
    const d = tmp();
    const good = join(d, 'good.yaml');
    writeFileSync(good, 'runtimes:\n  wrapped:\n    path: /opt/runc-wrap\ndefaultRuntime: wrapped\n');
    await expect(validateConfigFile(good)).resolves.toMatchObject({ defaultRuntime: 'wrapped' });
    const onlyDefault = join(d, 'only-default.yaml');
    writeFileSync(onlyDefault, 'defaultRuntime: declared-elsewhere\n');
    await expect(validateConfigFile(onlyDefault)).resolves.toBeDefined();
    const bad = join(d, 'bad.yaml');
    writeFileSync(bad, 'runtimes:\n  wrapped:\n    path: /opt/runc-wrap\ndefaultRuntime: kata\n');
    await expect(validateConfigFile(bad)).rejects.toThrow(`${bad}: key "defaultRuntime"`);
    const hostile = join(d, 'hostile.yaml');
    writeFileSync(hostile, 'runtimes:\n  "../../x":\n    path: /opt/runc-wrap\n');
    await expect(validateConfigFile(hostile)).rejects.toThrow(`${hostile}: key "runtimes": handler name "../../x" must be a DNS label`);
  });
});

describe('RunPodSandbox and Status with named handlers', () => {
  const launched: Array<{ handler: string; runtime: string | undefined }> = [];
  const cz = {
    launch: async (_id: unknown, info: { config: { runtimeHandler: string; runtime?: string } }) => {
      launched.push({ handler: info.config.runtimeHandler, runtime: info.config.runtime });
      return 'launched';
    },
  } as unknown as Containerizer;
  const deps = {
    config: defaults(),
    version: 't',
    runtimeName: 'runc',
    runtimeHandlers: ['runc', 'wrapped'],
    runtimeVersion: '',
    readiness: { network: () => ({ ready: true, reason: '', message: '' }) },
    containerizer: cz,
  } as unknown as ShimDeps;
  const ctx = { ...background(), rpc: 'RunPodSandbox' } as never;
  const req = (runtime_handler: string) => ({
      config: { metadata: { name: 'p', namespace: 'n', uid: 'u', attempt: 0 }, hostname: 'p', log_directory: '', dns_config: null, port_mappings: [], labels: {}, annotations: {}, linux: null },
      runtime_handler,
    }) as never;

  it('resolves the handler (empty: the default) and checkpoints it with the pod; unknown or hostile: NOT_FOUND naming it, nothing launched', async () => {
    launched.length = 0;
    await runPodSandbox(deps)(req('wrapped'), ctx);
    await runPodSandbox(deps)(req(''), ctx);
    expect(launched).toEqual([
      { handler: 'wrapped', runtime: 'wrapped' },
      { handler: '', runtime: 'runc' },
    ]);
    await expect(runPodSandbox(deps)(req('kata'), ctx)).rejects.toMatchObject({ code: 'NotFound', message: 'failed to run pod sandbox: runtime handler "kata" not found' });
    await expect(runPodSandbox(deps)(req('../../x'), ctx)).rejects.toMatchObject({ code: 'NotFound', message: expect.stringContaining('"../../x" not found') });
    await expect(runPodSandbox(deps)(req('runc\u0000x'), ctx)).rejects.toMatchObject({ code: 'NotFound', message: expect.stringContaining('"runc\\u0000x" not found') });
    expect(launched).toHaveLength(2);
  });

  it('reports every handler and the default again under ""', async () => {
    const res = await status(deps)({ verbose: true } as never, ctx);
    expect(res.runtime_handlers!.map((h) => h.name)).toEqual(['', 'runc', 'wrapped']);
    expect(JSON.parse(res.info!.config!)).toMatchObject({ runtime: 'runc', runtimeHandlers: ['runc', 'wrapped'] });
    const plain = await status(deps)({ verbose: false } as never, ctx);
    expect(plain.runtime_handlers!.map((h) => h.name)).toEqual(['', 'runc', 'wrapped']);
  });
});
