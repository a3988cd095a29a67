import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';

/**
 * A synthetic image layer of realistic shape: a directory tree with many
 * small files and some large ones, content about 2.5x compressible (words
 * mixed with random bytes), so `targetGzipBytes` of gzip expands to about
 * 2.5 times as much on disk. Deterministic for a given seed.
 */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet container image layer overlay mesos runtime kubelet pod sandbox'.split(' ');

function content(r: () => number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let i = 0;
  while (i < size) {
    if (r() < 0.06) {
      const n = Math.min(size - i, 16 + Math.floor(r() * 48));
      for (let k = 0; k < n; k++) b[i + k] = Math.floor(r() * 256);
      i += n;
    } else {
      const w = WORDS[Math.floor(r() * WORDS.length)]! + ' ';
      i += b.write(w, i, Math.min(w.length, size - i));
    }
  }
  return b;
}

/** Writes the layer to `file` (gzip through `pigz` when present) and returns its entry count. */
export async function generateLayer(file: string, targetGzipBytes: number, seed = 1): Promise<{ files: number; rawBytes: number }> {
  const r = rng(seed);
  const p = pack();
  const rawTarget = targetGzipBytes * 2.2;
  let raw = 0;
  let files = 0;
  const usePigz = await new Promise<boolean>((resolve) => {
    const c = spawn('pigz', ['--version'], { stdio: 'ignore' });
    c.on('error', () => resolve(false));
    c.on('exit', (code) => resolve(code === 0));
  });
  const out = createWriteStream(file);
  let done: Promise<void>;
  if (usePigz) {
    const child = spawn('pigz', ['-6', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
    done = Promise.all([pipeline(p, child.stdin), pipeline(child.stdout, out)]).then(() => undefined);
  } else {
    done = pipeline(p, createGzip({ level: 6 }), out);
  }
  const entry = (header: Parameters<typeof p.entry>[0], body?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      if (body) p.entry(header, body, (err) => (err ? reject(err) : resolve()));
      else p.entry(header, (err) => (err ? reject(err) : resolve())).end(undefined);
    });
  for (let d = 0; raw < rawTarget; d++) {
    const dir = `usr/share/pkg${d}`;
    await entry({ name: `${dir}/`, type: 'directory', mode: 0o755 });
    const n = 20 + Math.floor(r() * 60);
    for (let f = 0; f < n && raw < rawTarget; f++) {
      // Mostly small files, a few large ones, like a distribution's /usr.
      const x = r();
      const size = x < 0.8 ? Math.floor(r() * 8_000) : x < 0.99 ? 8_000 + Math.floor(r() * 90_000) : 500_000 + Math.floor(r() * 2_500_000);
      await entry({ name: `${dir}/file${f}`, mode: 0o644, mtime: new Date(1_700_000_000_000) }, content(r, size));
      raw += size;
      files++;
      if (f % 17 === 0) {
        await entry({ name: `${dir}/link${f}`, type: 'symlink', linkname: `file${f}` });
        files++;
      }
    }
  }
  p.finalize();
  await done;
  return { files, rawBytes: raw };
}
