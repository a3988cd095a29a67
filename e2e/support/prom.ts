/**
 * A reader of the Prometheus text format, for tests that scrape the
 * daemon: samples by name and labels.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

/** The samples named `name` whose labels include `match`. */
export const samples = (all: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Sample[] =>
  all.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));

/** The sum of the matching samples (0 when none). */
export const value = (all: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number =>
  samples(all, name, match).reduce((n, s) => n + s.value, 0);

export async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return parseProm(await res.text());
}
