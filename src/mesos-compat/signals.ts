import { constants } from 'node:os';
import { CriError } from '../common/errors';

const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * A stop signal as containerd's `signal.ParseSignal` reads it: a number
 * (1-64), or a name with or without `SIG`, in any case, including
 * `RTMIN+n` / `RTMAX-n`. Returns the form `runc kill` takes (a name it
 * knows, or the number), or `undefined` for anything else.
 */
export function parseSignal(raw: string): string | undefined {
  if (/^\d{1,2}$/.test(raw)) {
    const n = Number(raw);
    return n >= 1 && n <= SIGRTMAX ? String(n) : undefined;
  }
  const name = raw.toUpperCase().replace(/^SIG/, '');
  const rt = /^RT(MIN|MAX)([+-]\d{1,2})?$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0);
    return n >= SIGRTMIN && n <= SIGRTMAX ? String(n) : undefined;
  }
  const signals = constants.signals as Record<string, number | undefined>;
  return signals[`SIG${name}`] !== undefined ? `SIG${name}` : undefined;
}

/** The image's StopSignal, checked at CreateContainer: a bad one must never be what StopContainer waits on. */
export function checkStopSignal(raw: string, field: string): void {
  if (raw !== '' && parseSignal(raw) === undefined) {
    throw new CriError('InvalidArgument', `failed to create container: ${field} ${JSON.stringify(raw.slice(0, 64))} is not a signal`);
  }
}
