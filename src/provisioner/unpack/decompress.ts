import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Compression } from '../store/media-types';

/**
 * Turns a compressed layer stream into a tar stream. gzip uses zlib (on the
 * thread pool, so it overlaps with extraction); zstd has no Node 20 binding,
 * so Debian's `zstd -dc` runs as a filter process. Errors of the child are
 * surfaced on the returned stream.
 */
export function decompress(input: Readable, compression: Compression): Readable {
  if (compression === 'none') return input.pipe(new PassThrough({ highWaterMark: 1 << 20 }));
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 256 << 10 });
    input.on('error', (err) => gunzip.destroy(err));
    return input.pipe(gunzip);
  }
  const child = spawn('zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  input.on('error', (err) => {
    child.kill('SIGKILL');
    out.destroy(err);
  });
  child.stdin.on('error', () => undefined); // EPIPE when zstd exits early; reported by `close`.
  input.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  let stdoutDone = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const finish = (): void => {
    if (!stdoutDone || !exit) return;
    if (exit.code === 0) out.end();
    else out.destroy(new Error(`failed to decompress zstd layer: zstd exited ${exit.signal ?? String(exit.code)}: ${Buffer.concat(stderr).toString().trim()}`));
  };
  child.stdout.on('end', () => {
    stdoutDone = true;
    finish();
  });
  child.on('error', (err) => out.destroy(new Error('failed to start zstd', { cause: err })));
  child.on('close', (code, signal) => {
    exit = { code, signal };
    stdoutDone = true;
    finish();
  });
  out.on('close', () => {
    if (!exit) child.kill('SIGKILL');
  });
  return out;
}
