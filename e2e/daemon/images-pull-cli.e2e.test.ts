import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../containerizer/cri-fixture';
import { startProxy, type TestProxy } from '../provisioner/proxies';
import { ensureBuilt, MAIN_JS } from '../support/build';
import { startDaemon, type Daemon } from '../support/daemon';
import { buildBusybox, buildImage, buildLayer, ensureTestRegistry, pushImage, stopTestRegistry } from '../support/images';
import { scrape, value } from '../support/prom';
import { freePort } from '../support/registry';

/**
 * `mesos-cri images pull REF` against the running daemon: per-layer
 * progress as plain lines when stdout is not a terminal, as bars redrawn in
 * place on a terminal (`script` gives it one), the same numbers on the
 * metrics endpoint while it runs, the image then in the daemon's store;
 * clear failures for a missing image and a daemon that is not there.
 */

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function cli(args: readonly string[], opts: { tty?: boolean } = {}): { done: Promise<Run> } {
  const argv = [process.execPath, MAIN_JS, 'images', 'pull', ...args];
  // `script` runs the command on a pseudo-terminal and copies what it writes.
  const child = opts.tty
    ? spawn('script', ['-qec', argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '), '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return { done: new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err }))) };
}

describe('mesos-cri images pull', () => {
  let d: Daemon;
  let slow: TestProxy;
  let metricsUrl = '';
  const images: Array<{ ref: string; layer: string; size: number; base: string }> = [];
  const common = (): string[] => ['--config', join(d.base, 'none.yaml'), '--socket', d.socket];

  beforeAll(async () => {
    ensureBuilt();
    const reg = await ensureTestRegistry();
    const base = (await buildBusybox()).layers;
    for (const name of ['cli/plain:1', 'cli/tty:1']) {
      const layer = await buildLayer([{ name: 'payload.bin', content: randomBytes(640 << 10) }]);
      await pushImage(reg, name, buildImage([...base, layer]));
      images.push({ ref: name, layer: layer.digest, size: layer.size, base: base[0]!.digest });
    }
    slow = await startProxy(reg.url, { throttleBlobs: { over: 256 << 10, chunk: 32 << 10, everyMs: 100 } });
    for (const i of images) i.ref = `${slow.host}/${i.ref}`;
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    d = await startDaemon({ args: ['--metrics-address', `127.0.0.1:${port}`] });
  });

  afterAll(async () => {
    await d?.cleanup();
    await slow?.stop();
    await stopTestRegistry();
  });

  it('prints each layer as plain lines off a terminal, while the metrics show the same pull', async () => {
    const img = images[0]!;
    const run = cli([...common(), img.ref]);
    const seen = await until('the pull on the metrics endpoint', async () => {
      const got = value(await scrape(metricsUrl), 'mesos_cri_image_pull_layer_downloaded_bytes', { layer: img.layer });
      return got > 0 ? got : undefined;
    });
    expect(seen).toBeLessThanOrEqual(img.size);
    const r = await run.done;
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const short = img.layer.slice(7, 19);
    const lines = r.out.trim().split('\n');
    const moving = lines.filter((l) => l.startsWith(`${short} downloading`) || l.startsWith(`${short} extracting`));
    expect(moving.length).toBeGreaterThanOrEqual(1);
    expect(lines).toContain(`${short} done (${(img.size / 1024).toFixed(1)} KiB)`);
    expect(lines.some((l) => l.startsWith(img.base.slice(7, 19)))).toBe(true);
    expect(lines.every((l) => !l.includes('\x1b'))).toBe(true);
    const last = lines.at(-1)!;
    expect(last).toMatch(new RegExp(`^pulled ${img.ref.replace(/[.]/g, '\\.')}: sha256:[0-9a-f]{64}$`));
    const st = await d.image.call<{ image: { id: string } | null }>('ImageStatus', { image: { image: img.ref } });
    expect(st.image?.id).toBe(last.split(': ')[1]);
  });

  it('draws bars redrawn in place on a terminal', async () => {
    const img = images[1]!;
    const r = await cli([...common(), img.ref], { tty: true }).done;
    expect(r.code).toBe(0);
    expect(r.out).toContain('\x1b[2K');
    expect(r.out).toMatch(/\x1b\[\d+A/); // cursor up: a redraw
    expect(r.out).toContain(`${img.layer.slice(7, 19)} [${'#'.repeat(30)}] done`);
    expect(r.out).toMatch(/\[#*\.+\] downloading/);
    expect(r.out).toContain(`pulled ${img.ref}: sha256:`);
  });

  it('fails clearly for an image that is not there and for a daemon that is not running', async () => {
    const missing = await cli([...common(), `${slow.host}/cli/nothing:1`]).done;
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`failed to pull ${slow.host}/cli/nothing:1`);
    const gone = await cli(['--config', join(d.base, 'none.yaml'), '--socket', join(d.base, 'no.sock'), 'busybox']).done;
    expect(gone.code).toBe(1);
    expect(gone.err).toContain('is the daemon running?');
    const usage = await cli(['--config', join(d.base, 'none.yaml')]).done;
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('usage: mesos-cri images pull');
  });
});
