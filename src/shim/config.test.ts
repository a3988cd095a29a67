import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyDocument, ConfigError, defaults, helpText, loadConfig, parseCli, SCHEMA } from './config';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cfg-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('config', () => {
  it('embeds the documented defaults', () => {
    const c = defaults();
    expect(c.socket).toBe('/run/mesos-cri/mesos-cri.sock');
    expect(c.workDir).toBe('/var/lib/mesos-cri');
    expect(c.runDir).toBe('/run/mesos-cri');
    expect(c.cni.binDirs).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
    expect(c.streaming).toMatchObject({ address: '127.0.0.1', port: 0 });
  });

  it('layers file over defaults and flags over the file', async () => {
    const d = tmp();
    const file = join(d, 'c.yaml');
    writeFileSync(file, 'socket: /tmp/file.sock\nstreaming:\n  port: 10010\nregistry:\n  mirrors:\n    docker.io: ["http://127.0.0.1:5000"]\n');
    const cfg = await loadConfig(parseCli(['--config', file, '--stream-port', '10020', '--registry-mirror', 'registry.k8s.io=http://127.0.0.1:5001']));
    expect(cfg.socket).toBe('/tmp/file.sock');
    expect(cfg.streaming.port).toBe(10020);
    expect(cfg.registry.mirrors).toEqual({ 'docker.io': ['http://127.0.0.1:5000'], 'registry.k8s.io': ['http://127.0.0.1:5001'] });
    expect(cfg.workDir).toBe('/var/lib/mesos-cri');
  });

  it('treats a missing default file as optional but a missing named file as an error', async () => {
    const d = tmp();
    const cli = parseCli([]);
    await expect(loadConfig({ ...cli, configFile: join(d, 'absent.yaml') })).resolves.toMatchObject({ logLevel: 'info' });
    await expect(loadConfig(parseCli(['--config', join(d, 'absent.yaml')]))).rejects.toThrow(ConfigError);
  });

  it('names the key and the problem for invalid values and unknown keys', () => {
    expect(() => applyDocument(defaults(), { runtime: { name: 'docker' } }, 'f.yaml')).toThrow(/"runtime.name": must be one of auto\|runc\|crun/);
    expect(() => applyDocument(defaults(), { cni: { binDirs: '/opt' } }, 'f.yaml')).toThrow(/"cni.binDirs": must be a list/);
    expect(() => applyDocument(defaults(), { nope: 1 }, 'f.yaml')).toThrow(/unknown key "nope"/);
    expect(() => applyDocument(defaults(), { registry: { mirrors: { 'docker.io': ['ftp://x'] } } }, 'f.yaml')).toThrow(/registry.mirrors/);
  });

  it('rejects bad flags with a message', () => {
    expect(() => parseCli(['--no-such-flag'])).toThrow(ConfigError);
    expect(() => parseCli(['--stream-port', 'x'])).toThrow(/stream-port.*non-negative number/);
    expect(() => parseCli(['--registry-mirror', 'noequals'])).toThrow(/HOST=ENDPOINT/);
  });

  it('documents every flag in --help', () => {
    const help = helpText();
    for (const k of SCHEMA) if (k.flag) expect(help).toContain(`--${k.flag}`);
  });
});
