import { CriError } from '../../common/errors';
import { log } from '../../common/log';
import { pullBytesAdd, type LayerProgress, type PullSnapshot } from '../../common/metrics';

type LayerState = { -readonly [K in keyof LayerProgress]: LayerProgress[K] };

/**
 * The pulls in flight, per layer: what `mesos-cri images pull` shows and
 * the metrics endpoint exports. One per image store; an entry lives from
 * the start of a pull to its end.
 */
export class PullTracker {
  readonly #pulls = new Set<PullProgress>();

  add(p: PullProgress): void {
    this.#pulls.add(p);
  }

  delete(p: PullProgress): void {
    this.#pulls.delete(p);
  }

  snapshots(): PullSnapshot[] {
    return [...this.#pulls].map((p) => p.snapshot());
  }

  /** The pull of `image` (a normalized reference) in flight, if any. */
  find(image: string): PullSnapshot | undefined {
    for (const p of this.#pulls) if (p.image === image) return p.snapshot();
    return undefined;
  }
}

/**
 * Pull progress: bytes done/total per layer, logged at a steady interval,
 * and the pull aborted when nothing moved for `stallMs` (containerd
 * `image_pull_progress_timeout`). Extraction counts as progress too, since a
 * large layer may unpack for longer than the timeout.
 */
export class PullProgress {
  readonly #abort = new AbortController();
  #downloaded = 0;
  #extracted = 0;
  #lastMove: number;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #layers = new Map<string, LayerState>();
  readonly startedAt: number;

  constructor(
    readonly image: string,
    private readonly total: () => number,
    opts: { stallMs: number; logMs: number; tracker?: PullTracker },
    private readonly now: () => number = Date.now,
  ) {
    this.#lastMove = now();
    this.startedAt = this.#lastMove;
    const logTimer = setInterval(() => this.#log('pull progress'), opts.logMs);
    logTimer.unref();
    this.#timers.push(logTimer);
    if (opts.stallMs > 0) {
      const check = setInterval(() => {
        const idle = this.now() - this.#lastMove;
        if (idle >= opts.stallMs) {
          this.#abort.abort(
            new CriError('DeadlineExceeded', `failed to pull ${image}: no progress for ${Math.round(idle / 1000)}s (downloaded ${this.#downloaded} of ${this.total()} bytes); cancelled by pull progress timeout`),
          );
        }
      }, Math.min(1000, Math.max(50, opts.stallMs / 4)));
      check.unref();
      this.#timers.push(check);
    }
    if (opts.tracker) {
      const tracker = opts.tracker;
      tracker.add(this);
      this.#untrack = () => tracker.delete(this);
    }
  }

  #untrack = (): void => undefined;

  /** Aborted when the pull stalls. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  readonly add = (downloaded: number, extracted: number): void => {
    this.#downloaded += downloaded;
    this.#extracted += extracted;
    this.#lastMove = this.now();
    pullBytesAdd(downloaded);
  };

  /** Lists the image's layers, those already in the store as `exists`. */
  layers(all: ReadonlyArray<{ digest: string; size: number }>, present: ReadonlySet<string>): void {
    for (const l of all) {
      if (this.#layers.has(l.digest)) continue;
      this.#layers.set(l.digest, { digest: l.digest, size: l.size, downloaded: 0, extracted: 0, state: present.has(l.digest) ? 'exists' : 'waiting' });
    }
  }

  /** The progress callback of one layer's download and extraction. */
  layer(digest: string): (downloaded: number, extracted: number) => void {
    const l = this.#layers.get(digest);
    return (downloaded, extracted) => {
      this.add(downloaded, extracted);
      if (!l) return;
      l.downloaded += downloaded;
      l.extracted += extracted;
      l.state = l.extracted > 0 ? 'extracting' : 'downloading';
    };
  }

  layerDone(digest: string): void {
    const l = this.#layers.get(digest);
    if (l) l.state = 'done';
  }

  get downloaded(): number {
    return this.#downloaded;
  }

  snapshot(): PullSnapshot {
    return { image: this.image, startedAt: this.startedAt, layers: [...this.#layers.values()].map((l) => ({ ...l })) };
  }

  #log(msg: string): void {
    log.info({ image: this.image, downloadedBytes: this.#downloaded, totalBytes: this.total(), extractedBytes: this.#extracted }, msg);
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#untrack();
  }
}
