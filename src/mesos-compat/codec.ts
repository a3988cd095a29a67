import { appendCheckpoint, CheckpointError, readCheckpoint } from '../common/checkpoint';

/**
 * Checkpoints hold `bigint`s (CRI nanosecond timestamps, resource limits),
 * which JSON cannot carry: they are written as `{ "$bigint": "123" }` and
 * revived on read.
 */
const TAG = '$bigint';

export function encode(value: unknown): unknown {
  if (typeof value === 'bigint') return { [TAG]: value.toString() };
  if (Array.isArray(value)) return value.map(encode);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = encode(v);
    return out;
  }
  return value;
}

export function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && keys[0] === TAG && typeof obj[TAG] === 'string') return BigInt(obj[TAG]);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = decode(v);
    return out;
  }
  return value;
}

/** `encode` as a `JSON.stringify` replacer: the same text without a copy of the record. */
const encodeBigint = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? { [TAG]: value.toString() } : value);

/** Appends the record's state to its checkpoint (`appendCheckpoint`), before returning. */
export function saveRecord(path: string, value: unknown): Promise<void> {
  try {
    appendCheckpoint(path, value, encodeBigint);
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

export async function loadRecord<T>(path: string): Promise<T | undefined> {
  const raw = await readCheckpoint<unknown>(path);
  if (raw === undefined) return undefined;
  if (raw === null || typeof raw !== 'object') throw new CheckpointError('corrupt', `failed to read checkpoint ${path}: its value is not a record`);
  try {
    return decode(raw) as T;
  } catch (err) {
    throw new CheckpointError('corrupt', `failed to read checkpoint ${path}: ${(err as Error).message}`, { cause: err });
  }
}
