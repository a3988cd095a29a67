import type { Readable } from 'node:stream';
import { log } from '../common/log';
import type { TerminalSize } from './runtime';

/**
 * Splits a byte stream into top-level JSON objects. kubelet clients send
 * `{"Width":W,"Height":H}\n` (Go field names, newline-separated), while
 * `@kubernetes/client-node` sends `{"height":H,"width":W}` with no separator,
 * one per WebSocket message; Go's decoder accepts both, so we do too.
 */
export class JsonObjectSplitter {
  #buf = '';
  #depth = 0;
  #inString = false;
  #escaped = false;
  #start = -1;

  push(text: string): string[] {
    const out: string[] = [];
    const base = this.#buf.length;
    this.#buf += text;
    for (let i = base; i < this.#buf.length; i++) {
      const c = this.#buf[i];
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === '\\') this.#escaped = true;
        else if (c === '"') this.#inString = false;
      } else if (c === '"') {
        this.#inString = true;
      } else if (c === '{') {
        if (this.#depth++ === 0) this.#start = i;
      } else if (c === '}' && this.#depth > 0) {
        if (--this.#depth === 0) out.push(this.#buf.slice(this.#start, i + 1));
      }
    }
    if (this.#depth === 0) this.#buf = '';
    else if (this.#buf.length > 64 * 1024) {
      // A size event is a few dozen bytes; anything this long is garbage.
      this.#buf = '';
      this.#depth = 0;
      this.#inString = false;
    }
    return out;
  }
}

/** Reads a size from a decoded object, matching keys case-insensitively as Go's `encoding/json` does. */
export function parseTerminalSize(text: string): TerminalSize | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  let width: unknown;
  let height: unknown;
  for (const [k, v] of Object.entries(value)) {
    if (k.toLowerCase() === 'width') width = v;
    else if (k.toLowerCase() === 'height') height = v;
  }
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffff;
  // containerd ignores sizes with a zero dimension; so do we.
  return ok(width) && ok(height) ? { width, height } : undefined;
}

/**
 * A resize channel that never blocks its producer: the consumer sees every
 * size unless it lags, in which case only the newest pending size is kept
 * (a terminal only cares about its latest size).
 */
export class ResizeQueue implements AsyncIterable<TerminalSize> {
  #pending: TerminalSize | undefined;
  #closed = false;
  #wake: (() => void) | undefined;

  push(size: TerminalSize): void {
    if (this.#closed) return;
    this.#pending = size;
    this.#notify();
  }

  close(): void {
    this.#closed = true;
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TerminalSize> {
    for (;;) {
      if (this.#pending !== undefined) {
        const size = this.#pending;
        this.#pending = undefined;
        yield size;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Feeds a client's resize stream into a queue; the queue closes when the stream ends. */
export function resizeQueueFrom(stream: Readable): ResizeQueue {
  const queue = new ResizeQueue();
  const splitter = new JsonObjectSplitter();
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    for (const obj of splitter.push(text)) {
      const size = parseTerminalSize(obj);
      if (size) queue.push(size);
      else log.debug({ obj }, 'ignoring malformed terminal size');
    }
  });
  stream.once('end', () => queue.close());
  stream.once('close', () => queue.close());
  stream.on('error', () => queue.close());
  return queue;
}
