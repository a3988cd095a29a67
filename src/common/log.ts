/**
 * One structured logger: JSON lines on stderr with `time`, `level`, `msg` and
 * fields. Debug categories are enabled with `MESOS_CRI_TRACE=cat1,cat2` (or `all`),
 * like `GRPC_TRACE`. No `console.log` elsewhere.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  child(fields: Record<string, unknown>): Logger;
  trace(category: string): boolean;
}

let threshold: Level = (process.env.MESOS_CRI_LOG_LEVEL as Level | undefined) ?? 'info';
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');
const traces = new Set((process.env.MESOS_CRI_TRACE ?? '').split(',').filter(Boolean));

export function setLogLevel(level: Level): void {
  threshold = level;
}

/** Tests capture lines by replacing the sink. */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

function serialize(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { message: value.message, name: value.name };
    if ('code' in value) out.code = (value as { code: unknown }).code;
    if (value.cause !== undefined) out.cause = serialize(value.cause);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function make(base: Record<string, unknown>): Logger {
  const emit = (level: Level, fields: Record<string, unknown>, msg: string): void => {
    if (order[level] < order[threshold]) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...base };
    for (const [k, v] of Object.entries(fields)) rec[k] = serialize(v);
    sink(JSON.stringify(rec));
  };
  return {
    debug: (f, m) => emit('debug', f, m),
    info: (f, m) => emit('info', f, m),
    warn: (f, m) => emit('warn', f, m),
    error: (f, m) => emit('error', f, m),
    child: (f) => make({ ...base, ...f }),
    trace: (category) => traces.has('all') || traces.has(category),
  };
}

export const log: Logger = make({});
