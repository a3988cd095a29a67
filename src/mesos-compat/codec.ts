import { checkpoint, readCheckpoint } from '../common/checkpoint';

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

export const saveRecord = (path: string, value: unknown, opts: { sync?: boolean } = {}): Promise<void> => checkpoint(path, encode(value), opts);

export async function loadRecord<T>(path: string): Promise<T | undefined> {
  const raw = await readCheckpoint<unknown>(path);
  return raw === undefined ? undefined : (decode(raw) as T);
}
