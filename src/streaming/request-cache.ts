import { randomBytes } from 'node:crypto';
import { CriError } from '../common/errors';
import type { Clock } from '../common/clock';

export interface ExecRequest {
  readonly kind: 'exec';
  readonly containerId: string;
  readonly cmd: readonly string[];
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

export interface AttachRequest {
  readonly kind: 'attach';
  readonly containerId: string;
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

export interface PortForwardRequest {
  readonly kind: 'portforward';
  readonly podSandboxId: string;
  readonly ports: readonly number[];
}

export type StreamRequest = ExecRequest | AttachRequest | PortForwardRequest;

export const DEFAULT_TOKEN_TTL_MS = 60_000;
export const MAX_IN_FLIGHT = 1000;

interface Entry {
  readonly request: StreamRequest;
  readonly expiresAt: number;
}

/**
 * Single-use tokens for the URLs returned by Exec/Attach/PortForward
 * (kubelet `request_cache.go`). The token is the only credential a streaming
 * client presents, so it is random, short-lived and burnt on first use, even
 * when that use is for the wrong kind or after expiry.
 */
export class RequestCache {
  // Insertion order equals expiry order (constant TTL), so a Map doubles as a queue.
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = DEFAULT_TOKEN_TTL_MS,
    private readonly max = MAX_IN_FLIGHT,
  ) {}

  insert(request: StreamRequest): string {
    this.#sweep();
    if (this.#entries.size >= this.max) {
      throw new CriError('ResourceExhausted', 'failed to issue a streaming token: maximum number of in-flight requests exceeded');
    }
    for (let i = 0; i < 10; i++) {
      // 6 random bytes are exactly 8 base64url characters (kubelet uses the same size).
      const token = randomBytes(6).toString('base64url');
      if (this.#entries.has(token)) continue;
      this.#entries.set(token, { request, expiresAt: this.clock.nowMs() + this.ttlMs });
      return token;
    }
    throw new CriError('Internal', 'failed to issue a streaming token: no unique token after 10 tries');
  }

  /** Returns the request if `token` is known and unexpired; the token is gone afterwards either way. */
  consume(token: string): StreamRequest | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    this.#entries.delete(token);
    return this.clock.nowMs() < entry.expiresAt ? entry.request : undefined;
  }

  get size(): number {
    return this.#entries.size;
  }

  #sweep(): void {
    const now = this.clock.nowMs();
    for (const [token, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(token);
    }
  }
}
