import { CriError } from '../../common/errors';
import { log } from '../../common/log';

/**
 * Pull progress: bytes done/total logged at a steady interval, and the pull
 * aborted when nothing moved for `stallMs` (containerd
 * `image_pull_progress_timeout`). Extraction counts as progress too, since a
 * large layer may unpack for longer than the timeout.
 */
export class PullProgress {
  readonly #abort = new AbortController();
  #downloaded = 0;
  #extracted = 0;
  #lastMove: number;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly ref: string,
    private readonly total: () => number,
    opts: { stallMs: number; logMs: number },
    private readonly now: () => number = Date.now,
  ) {
    this.#lastMove = now();
    const logTimer = setInterval(() => this.#log('pull progress'), opts.logMs);
    logTimer.unref();
    this.#timers.push(logTimer);
    if (opts.stallMs > 0) {
      const check = setInterval(() => {
        const idle = this.now() - this.#lastMove;
        if (idle >= opts.stallMs) {
          this.#abort.abort(
            new CriError('DeadlineExceeded', `failed to pull ${ref}: no progress for ${Math.round(idle / 1000)}s (downloaded ${this.#downloaded} of ${this.total()} bytes); cancelled by pull progress timeout`),
          );
        }
      }, Math.min(1000, Math.max(50, opts.stallMs / 4)));
      check.unref();
      this.#timers.push(check);
    }
  }

  /** Aborted when the pull stalls. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  readonly add = (downloaded: number, extracted: number): void => {
    this.#downloaded += downloaded;
    this.#extracted += extracted;
    this.#lastMove = this.now();
  };

  get downloaded(): number {
    return this.#downloaded;
  }

  #log(msg: string): void {
    log.info({ image: this.ref, downloadedBytes: this.#downloaded, totalBytes: this.total(), extractedBytes: this.#extracted }, msg);
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
  }
}
