import { Crictl } from './crictl';

/** A CRI request or response in the wire's JSON shape (field names as in `api.proto`). */
export type Wire = Record<string, unknown>;

/** What a call that may be refused returned: the value, or the gRPC code (Go's name for it) and message. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: string; readonly message: string };

/** One container as a list shows it. */
export interface Listed {
  readonly id: string;
  readonly state: string;
}

/**
 * The CRI calls the suite makes, the same for both runtimes, through the
 * real crictl. Responses come back with `api.proto` field names (snake_case).
 */
export interface Driver {
  readonly name: 'containerd' | 'mesos-cri';
  pull(ref: string): Promise<void>;
  runPod(config: Wire): Promise<Outcome<string>>;
  createContainer(podId: string, config: Wire, podConfig: Wire): Promise<Outcome<string>>;
  startContainer(id: string): Promise<Outcome<void>>;
  listContainers(podId: string): Promise<Wire[]>;
  /** `ContainerStatus` with `verbose`: `{ status, info }`. */
  containerStatus(id: string): Promise<Wire>;
  /** `PodSandboxStatus` with `verbose`: `{ status, info }`. */
  podStatus(id: string): Promise<Wire>;
  removePod(id: string): Promise<void>;
}

/** crictl prints protobuf JSON (lowerCamelCase); the suite reads `api.proto` names. */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        // Maps keep their keys (labels, annotations, unified, sysctls, info).
        const keep = ['labels', 'annotations', 'unified', 'sysctls', 'info'].includes(k);
        return [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), keep ? v : snakeKeys(v)];
      }),
    );
  }
  return value;
}

const id = (stdout: string): string => stdout.trim().split('\n').pop()!.trim();

/** Every call through the real crictl binary, as an operator or kubelet-like client would. */
export class CrictlDriver implements Driver {
  readonly #c: Crictl;

  constructor(readonly name: Driver['name'], socket: string, dir: string) {
    this.#c = new Crictl(socket, dir);
  }

  async pull(ref: string): Promise<void> {
    await this.#c.must(['pull', ref], 180_000);
  }

  async runPod(config: Wire): Promise<Outcome<string>> {
    const r = await this.#c.run(['runp', this.#c.file('pod', config)]);
    return r.ok ? { ok: true, value: id(r.stdout) } : r;
  }

  async createContainer(podId: string, config: Wire, podConfig: Wire): Promise<Outcome<string>> {
    const r = await this.#c.run(['create', '--no-pull', podId, this.#c.file('ctr', config), this.#c.file('pod', podConfig)]);
    return r.ok ? { ok: true, value: id(r.stdout) } : r;
  }

  async startContainer(cid: string): Promise<Outcome<void>> {
    const r = await this.#c.run(['start', cid]);
    return r.ok ? { ok: true, value: undefined } : r;
  }

  async listContainers(podId: string): Promise<Wire[]> {
    const out = JSON.parse(await this.#c.must(['ps', '-a', '-p', podId, '-o', 'json'])) as { containers?: unknown[] };
    return (out.containers ?? []).map((c) => snakeKeys(c) as Wire);
  }

  async containerStatus(cid: string): Promise<Wire> {
    return snakeKeys(JSON.parse(await this.#c.must(['inspect', '-o', 'json', cid]))) as Wire;
  }

  async podStatus(pid: string): Promise<Wire> {
    return snakeKeys(JSON.parse(await this.#c.must(['inspectp', '-o', 'json', pid]))) as Wire;
  }

  async removePod(pid: string): Promise<void> {
    await this.#c.run(['stopp', pid]);
    await this.#c.run(['rmp', '--force', pid]);
  }
}
