import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { applyDocument, ConfigError, defaults, loadConfigWithSources, parseCli } from './config';
import { configCommand, defaultConfigText, dumpConfigText, validateConfigFile } from './cli/config-cmd';
import { changedKeys, isLiveKey, Reloader } from './reload';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cfgd-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function sink(): { write(s: string): boolean; text: string } {
  return {
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  };
}

describe('config drop-ins', () => {
  it('merges config.d/*.yaml beside the file in name order, over the file, under flags, and records each source', async () => {
    const d = tmp();
    const file = join(d, 'config.yaml');
    writeFileSync(file, 'logLevel: warn\nstreaming:\n  port: 10010\nregistry:\n  mirrors:\n    docker.io: ["http://127.0.0.1:5000"]\n');
    mkdirSync(join(d, 'config.d'));
    writeFileSync(join(d, 'config.d', '20-b.yaml'), 'logLevel: error\nregistry:\n  mirrors:\n    quay.io: ["https://m.example"]\n');
    writeFileSync(join(d, 'config.d', '10-a.yml'), 'logLevel: debug\nstreaming:\n  port: 10011\n');
    writeFileSync(join(d, 'config.d', '.hidden.yaml'), 'nope: 1\n');
    writeFileSync(join(d, 'config.d', '30-c.yaml.dpkg-old'), 'nope: 1\n');
    const { config, sources, files } = await loadConfigWithSources(parseCli(['--config', file, '--stream-port', '10020']));
    expect(files).toEqual([file, join(d, 'config.d', '10-a.yml'), join(d, 'config.d', '20-b.yaml')]);
    expect(config.logLevel).toBe('error');
    expect(sources.logLevel).toBe(join(d, 'config.d', '20-b.yaml'));
    expect(config.streaming.port).toBe(10020);
    expect(sources['streaming.port']).toBe('flag --stream-port');
    // Map keys merge per registry.
    expect(config.registry.mirrors).toEqual({ 'docker.io': ['http://127.0.0.1:5000'], 'quay.io': ['https://m.example'] });
    expect(sources.workDir).toBe('default');
  });

  it('applies drop-ins when the main file is absent, and takes --config-dir', async () => {
    const d = tmp();
    mkdirSync(join(d, 'other'));
    writeFileSync(join(d, 'other', 'x.yaml'), 'logLevel: debug\n');
    const cli = parseCli(['--config-dir', join(d, 'other')]);
    const { config } = await loadConfigWithSources({ ...cli, configFile: join(d, 'absent.yaml') });
    expect(config.logLevel).toBe('debug');
  });

  it('stops on a bad drop-in, naming the file and key', async () => {
    const d = tmp();
    mkdirSync(join(d, 'config.d'));
    writeFileSync(join(d, 'c.yaml'), '');
    writeFileSync(join(d, 'config.d', '50-bad.yaml'), 'runtime:\n  name: docker\n');
    await expect(loadConfigWithSources(parseCli(['--config', join(d, 'c.yaml')]))).rejects.toThrow(
      /50-bad\.yaml: key "runtime\.name"/,
    );
    writeFileSync(join(d, 'config.d', '50-bad.yaml'), 'a: [\n');
    await expect(loadConfigWithSources(parseCli(['--config', join(d, 'c.yaml')]))).rejects.toThrow(/not valid YAML/);
  });
});

describe('mesos-cri config', () => {
  it('default: every key commented, and it parses back to the defaults', () => {
    const text = defaultConfigText();
    expect(text).toContain('# OCI runtime; auto probes crun, then runc (flag --runtime)');
    expect(applyDocument(defaults(), parseYaml(text), 'default')).toEqual(defaults());
  });

  it('dump: the effective value and its source per key; parses back to the same config', async () => {
    const d = tmp();
    const file = join(d, 'c.yaml');
    writeFileSync(file, 'cni:\n  confDir: /etc/x\n');
    const loaded = await loadConfigWithSources(parseCli(['--config', file, '--log-level', 'warn']));
    const text = dumpConfigText(loaded.config, loaded.sources, loaded.files);
    expect(text).toContain(`  confDir: "/etc/x"  # ${file}`);
    expect(text).toContain('logLevel: "warn"  # flag --log-level');
    expect(text).toContain('socket: "/run/mesos-cri/mesos-cri.sock"  # default');
    expect(applyDocument(defaults(), parseYaml(text), 'dump')).toEqual(loaded.config);
  });

  it('validate: exit 0 for a valid file, 2 with the key named for an invalid one', async () => {
    const d = tmp();
    writeFileSync(join(d, 'ok.yaml'), 'logLevel: debug\n');
    writeFileSync(join(d, 'bad.yaml'), 'streaming:\n  port: -1\n');
    writeFileSync(join(d, 'tls.yaml'), 'streaming:\n  tlsCert: /x.pem\n');
    const out = sink();
    const err = sink();
    const cli = parseCli([]);
    expect(await configCommand(cli, ['validate', join(d, 'ok.yaml')], out as never, err as never)).toBe(0);
    expect(out.text).toContain('ok.yaml: valid');
    expect(await configCommand(cli, ['validate', join(d, 'bad.yaml')], out as never, err as never)).toBe(2);
    expect(err.text).toMatch(/bad\.yaml: key "streaming\.port": must be a non-negative number/);
    await expect(validateConfigFile(join(d, 'tls.yaml'))).rejects.toThrow(/streaming\.tlsKey/);
    writeFileSync(join(d, 'pin.yaml'), 'images:\n  pinned: ["UPPER/Case:1"]\n');
    await expect(validateConfigFile(join(d, 'pin.yaml'))).rejects.toThrow(/"images\.pinned"/);
    writeFileSync(join(d, 'pin.yaml'), `images:\n  pinned: ["registry.k8s.io/pause:3.9", "sha256:${'a'.repeat(64)}"]\n`);
    await expect(validateConfigFile(join(d, 'pin.yaml'))).resolves.toBeDefined();
    await expect(validateConfigFile(join(d, 'absent.yaml'))).rejects.toThrow(ConfigError);
    expect(await configCommand(cli, ['validate'], out as never, err as never)).toBe(2);
    expect(await configCommand(cli, ['bogus'], out as never, err as never)).toBe(2);
  });
});

describe('reload', () => {
  it('classifies keys: log level, registry and CNI dir are live, the rest need a restart', () => {
    expect(['logLevel', 'registry.mirrors', 'registry.insecure', 'cni.confDir'].every(isLiveKey)).toBe(true);
    expect(['socket', 'workDir', 'streaming.port', 'cni.binDirs'].some(isLiveKey)).toBe(false);
    const a = defaults();
    const b = { ...defaults(), logLevel: 'debug' as const, socket: '/x' };
    expect(changedKeys(a, b)).toEqual(['socket', 'logLevel']);
  });

  it('applies live changes, names the rest, keeps running values on restart-only keys, and ignores an invalid file', async () => {
    const d = tmp();
    const file = join(d, 'c.yaml');
    writeFileSync(file, 'logLevel: info\n');
    const cli = parseCli(['--config', file]);
    const calls: string[] = [];
    const r = new Reloader(cli, (await loadConfigWithSources(cli)).config, {
      setLogLevel: (l) => void calls.push(`log ${l}`),
      configureRegistry: (reg) => void calls.push(`registry ${JSON.stringify(reg.mirrors)}`),
      setCniConfDir: (dir) => void calls.push(`cni ${dir}`),
    });
    writeFileSync(file, 'logLevel: debug\nsocket: /tmp/other.sock\ncni:\n  confDir: /etc/cni2\nregistry:\n  mirrors:\n    docker.io: ["http://127.0.0.1:1"]\n');
    const res = await r.reload();
    expect(res?.applied).toEqual(['logLevel', 'cni.confDir', 'registry.mirrors']);
    expect(res?.needsRestart).toEqual(['socket']);
    expect(calls).toEqual(['log debug', 'registry {"docker.io":["http://127.0.0.1:1"]}', 'cni /etc/cni2']);
    expect(r.config.socket).toBe('/run/mesos-cri/mesos-cri.sock');
    // Again: nothing live changed (the hosts dir is re-read regardless), the socket is still named.
    calls.length = 0;
    expect((await r.reload())?.needsRestart).toEqual(['socket']);
    expect(calls).toEqual(['registry {"docker.io":["http://127.0.0.1:1"]}']);
    writeFileSync(file, 'logLevel: loud\n');
    expect(await r.reload()).toBeUndefined();
    expect(r.config.logLevel).toBe('debug');
  });
});
