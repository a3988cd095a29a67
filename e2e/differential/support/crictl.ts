import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../support/build';

/** The stock crictl (v1.26.1, grpc-go 1.51) the project tests against: `../shared/bin/crictl` from the checkout. */
export const CRICTL = join(ROOT, '..', 'shared', 'bin', 'crictl');

/** What a crictl call returned; a refused call carries the gRPC code crictl printed. */
export type CrictlResult =
  | { readonly ok: true; readonly stdout: string }
  | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * crictl pointed at one runtime's socket, with a config file of its own so
 * that no `/etc/crictl.yaml` on the node changes what it does. Requests are
 * files: crictl reads pod and container configs as JSON.
 */
export class Crictl {
  readonly #config: string;
  readonly #dir: string;
  #seq = 0;

  constructor(readonly socket: string, dir: string) {
    this.#dir = mkdtempSync(join(dir, 'crictl-'));
    this.#config = join(this.#dir, 'crictl.yaml');
    writeFileSync(this.#config, `runtime-endpoint: unix://${socket}\nimage-endpoint: unix://${socket}\ntimeout: 60\npull-image-on-create: false\n`);
  }

  /** Writes `value` as a JSON request file in crictl's encoding and returns its path. */
  file(name: string, value: unknown): string {
    const path = join(this.#dir, `${++this.#seq}-${name}.json`);
    writeFileSync(path, JSON.stringify(toCrictlJson(value)));
    return path;
  }

  run(args: readonly string[], timeoutMs = 90_000): Promise<CrictlResult> {
    return new Promise((resolve) => {
      execFile(CRICTL, ['--config', this.#config, ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        if (!err) return resolve({ ok: true, stdout });
        const text = `${stderr}`.trim() || String(err);
        const m = /code = (\w+) desc = (.*?)"?$/m.exec(text);
        resolve({ ok: false, code: m?.[1] ?? 'CRICTL_FAILED', message: m?.[2] ?? text });
      });
    });
  }

  /** Like `run`, but a refusal throws: for calls that must work (pull, inspect, teardown). */
  async must(args: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (!r.ok) throw new Error(`crictl ${args.join(' ')}: ${r.code}: ${r.message}`);
    return r.stdout;
  }
}

/**
 * crictl decodes request files with Go's encoding/json into the generated
 * CRI structs: field names as in `api.proto`, but enums as numbers. Cases are
 * written with enum names (the form gRPC clients and our logs use); this
 * turns the enum-valued fields into their numbers.
 */
const ENUMS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  network: { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 },
  pid: { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 },
  ipc: { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 },
  propagation: { PROPAGATION_PRIVATE: 0, PROPAGATION_HOST_TO_CONTAINER: 1, PROPAGATION_BIDIRECTIONAL: 2 },
  profile_type: { RuntimeDefault: 0, Unconfined: 1, Localhost: 2 },
  protocol: { TCP: 0, UDP: 1, SCTP: 2 },
};

export function toCrictlJson(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => toCrictlJson(v, key));
  if (typeof value === 'string' && ENUMS[key]?.[value] !== undefined) return ENUMS[key]![value];
  if (typeof value === 'bigint') return Number(value);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCrictlJson(v, k)]));
  }
  return value;
}
