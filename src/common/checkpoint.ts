import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
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

/** Past this size an appended checkpoint is rewritten with its last state only. */
const APPEND_LIMIT = 64 * 1024;

/**
 * Checkpoints a record that changes often (a container's at every state
 * change) by appending to its file rather than replacing it: one small
 * write, done before returning, instead of a new file and a rename over
 * the old one (on ext4 without a journal each replace frees an inode and
 * each new file scans for one, 0.3-1 ms of CPU apiece). Each state is a
 * line; `readCheckpoint` takes the last whole one, so a write cut short by
 * a crash leaves the state before it, and the newline that starts every
 * write ends such a torn line. The file is compacted once it grows past
 * 64 KiB. Not fsynced (see `writeAtomic`'s `sync`).
 */
export function appendCheckpoint(path: string, value: unknown, replacer?: (key: string, value: unknown) => unknown): void {
  const line = `\n${JSON.stringify({ version: CHECKPOINT_VERSION, value }, replacer)}`;
  let fd: number;
  try {
    // Appends only to a file that exists: a new one is made whole (temp file and rename), so a
    // daemon killed between creating it and writing to it never leaves an empty checkpoint.
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`failed to checkpoint ${path}`, { cause: err });
    writeAtomicNow(path, line, 0o600);
    return;
  }
  let size: number;
  try {
    writeSync(fd, line);
    size = fstatSync(fd).size;
  } catch (err) {
    throw new Error(`failed to checkpoint ${path}`, { cause: err });
  } finally {
    closeSync(fd);
  }
  if (size > APPEND_LIMIT) writeAtomicNow(path, line, 0o600);
}

/**
 * Why a checkpoint could not be read. Recovery treats only `corrupt` (and
 * a missing file) as "not there": such state is moved aside and its
 * leftovers swept. `unreadable` (EIO, EACCES...) and `newer` (written by a
 * later version of the daemon) stop the recovery of that one object and
 * leave everything of it untouched.
 */
export type CheckpointFault = 'corrupt' | 'unreadable' | 'newer';

export class CheckpointError extends Error {
  constructor(
    readonly fault: CheckpointFault,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CheckpointError';
  }
}

/** The fault of a `readCheckpoint` failure; anything that is not a `CheckpointError` counts as unreadable. */
export const checkpointFault = (err: unknown): CheckpointFault => (err instanceof CheckpointError ? err.fault : 'unreadable');

/**
 * Migrations from older checkpoint versions, by the version they read:
 * each returns the value in the next version's shape. Version 1 is the
 * first; none is older yet.
 */
const MIGRATIONS: Record<number, (value: unknown) => unknown> = {};

/**
 * Reads a checkpoint (the last whole state of an appended one);
 * `undefined` when the file does not exist. Throws a `CheckpointError`
 * saying whether the file is corrupt, unreadable or of a newer version;
 * an older version is migrated.
 */
export async function readCheckpoint<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // ENOTDIR, EISDIR and the like are a path that is not a file of ours;
    // EIO, EACCES, EMFILE... say nothing about the state itself.
    const code = (err as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'EISDIR' ? 'corrupt' : 'unreadable', `failed to read checkpoint ${path}: ${code ?? String(err)}`, { cause: err });
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  let parsed: { version?: number; value?: T } | undefined;
  for (let i = lines.length - 1; i >= 0 && parsed === undefined; i--) {
    try {
      const p = JSON.parse(lines[i]!) as unknown;
      if (p !== null && typeof p === 'object' && !Array.isArray(p)) parsed = p as { version?: number; value?: T };
      else if (i === 0) throw new Error('not an object');
    } catch (err) {
      if (i === 0) throw new CheckpointError('corrupt', `failed to read checkpoint ${path}: no whole state in it`, { cause: err });
    }
  }
  if (!parsed) throw new CheckpointError('corrupt', `failed to read checkpoint ${path}: it is empty`);
  let version = parsed.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new CheckpointError('corrupt', `failed to read checkpoint ${path}: no valid version (${String(version)})`);
  }
  if (version > CHECKPOINT_VERSION) {
    throw new CheckpointError('newer', `failed to read checkpoint ${path}: version ${version} is newer than this daemon's ${CHECKPOINT_VERSION}`);
  }
  let value: unknown = parsed.value;
  for (; version < CHECKPOINT_VERSION; version++) {
    const migrate = MIGRATIONS[version];
    if (!migrate) throw new CheckpointError('corrupt', `failed to read checkpoint ${path}: no migration from version ${version}`);
    value = migrate(value);
  }
  return value as T;
}

/** Temp files of `writeAtomic` (`.<12 hex>.tmp`) and `writeAtomicNow` (`.<pid>-<n>.tmp`). */
const TEMP = /^\.([0-9a-f]{12}|\d+-\d+)\.tmp$/;

/**
 * Removes the temp files a daemon killed mid-checkpoint left in `dir`
 * (before its rename). Only for recovery: no write of ours is in flight
 * then. Returns how many went.
 */
export async function removeStaleTemps(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    if (!TEMP.test(name)) continue;
    await rm(join(dir, name), { force: true });
    n++;
  }
  return n;
}

/**
 * Moves a corrupt checkpoint out of the way, into `quarantine`, under a
 * name that says where it was and when; nothing is deleted. Returns the
 * new path, or `undefined` when the file was already gone.
 */
export async function moveAside(path: string, quarantine: string, label: string): Promise<string | undefined> {
  await mkdir(quarantine, { recursive: true, mode: 0o700 });
  const dest = join(quarantine, `${new Date().toISOString().replace(/[:.]/g, '-')}-${label.replace(/[^A-Za-z0-9._-]/g, '_')}-${randomBytes(3).toString('hex')}`);
  try {
    await rename(path, dest);
    return dest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
