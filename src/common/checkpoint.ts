import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Atomic, versioned checkpoints (Mesos `state.hpp` + containerd `status.go`):
 * write a temp file in the same directory (rename must not cross devices),
 * fsync, rename over the target, fsync the directory.
 */
export const CHECKPOINT_VERSION = 1;

/**
 * Writes `data` to `path` atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory (the fsyncs only with `sync`, default on).
 */
export async function writeAtomic(path: string, data: string | Buffer, opts: { sync?: boolean; mode?: number } = {}): Promise<void> {
  const sync = opts.sync ?? true;
  if (!sync) {
    writeAtomicNow(path, data, opts.mode ?? 0o600);
    return;
  }
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(tmp, 'wx', opts.mode ?? 0o600);
  try {
    await file.writeFile(data);
    if (sync) await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`failed to write ${path}`, { cause: err });
  }
  if (sync) {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

let tmpSeq = 0;

/**
 * `writeAtomic` without the fsyncs, done before returning: for files of a
 * few KiB, the three system calls cost less than three trips through
 * libuv's thread pool, and the writes land in call order.
 */
function writeAtomicNow(path: string, data: string | Buffer, mode: number): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${process.pid}-${++tmpSeq}.tmp`);
  try {
    writeFileSync(tmp, data, { flag: 'wx', mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, data, { flag: 'wx', mode });
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(`failed to write ${path}`, { cause: err });
  }
}

export async function checkpoint(path: string, value: unknown, opts: { sync?: boolean } = {}): Promise<void> {
  try {
    await writeAtomic(path, JSON.stringify({ version: CHECKPOINT_VERSION, value }), opts);
  } catch (err) {
    throw new Error(`failed to checkpoint ${path}`, { cause: err });
  }
}

/** Reads a checkpoint; `undefined` when the file does not exist. */
export async function readCheckpoint<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as { version?: number; value?: T };
  if (parsed.version !== CHECKPOINT_VERSION) {
    throw new Error(`failed to read checkpoint ${path}: unsupported version ${String(parsed.version)}`);
  }
  return parsed.value;
}
