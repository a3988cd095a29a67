import type { LayerProgress } from '../../common/metrics';

const MiB = 1024 * 1024;
const size = (n: number): string => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

/** What one layer looks like in words: state, and bytes where they move. */
function describe(l: LayerProgress): string {
  switch (l.state) {
    case 'exists':
      return 'already present';
    case 'done':
      return `done (${size(l.size)})`;
    case 'waiting':
      return `waiting (${size(l.size)})`;
    case 'downloading':
      return `downloading ${size(l.downloaded)} / ${size(l.size)}`;
    case 'extracting':
      return `extracting ${size(l.extracted)} / ${size(l.size)}`;
  }
}

/** Share of the layer's work done: download and extraction count half each. */
function fraction(l: LayerProgress): number {
  if (l.state === 'done' || l.state === 'exists') return 1;
  if (l.size <= 0) return 0;
  return Math.min(1, (l.downloaded + l.extracted) / (2 * l.size));
}

/**
 * Renders pull progress for `mesos-cri images pull`: on a terminal, one bar
 * per layer redrawn in place; otherwise plain lines, for a layer when its
 * state changes and for the moving ones at most every `everyMs`.
 */
export class ProgressView {
  #drawn = 0;
  #states = new Map<string, string>();
  #lastLines = 0;

  constructor(
    private readonly tty: boolean,
    private readonly width = 30,
    private readonly everyMs = 2000,
  ) {}

  /** The text to write for this update (possibly nothing). */
  update(layers: readonly LayerProgress[], nowMs: number): string {
    return this.tty ? this.#redraw(layers) : this.#lines(layers, nowMs, false);
  }

  /** The last word on every layer, once the pull is done. */
  finish(layers: readonly LayerProgress[], nowMs: number): string {
    return this.tty ? this.#redraw(layers) : this.#lines(layers, nowMs, true);
  }

  #redraw(layers: readonly LayerProgress[]): string {
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : '';
    const lines = layers.map((l) => {
      const filled = Math.round(fraction(l) * this.width);
      return `\x1b[2K${short(l.digest)} [${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${describe(l)}`;
    });
    this.#drawn = lines.length;
    return lines.length === 0 ? '' : `${up}${lines.join('\n')}\n`;
  }

  #lines(layers: readonly LayerProgress[], nowMs: number, final: boolean): string {
    const due = final || nowMs - this.#lastLines >= this.everyMs;
    const out: string[] = [];
    for (const l of layers) {
      const changed = this.#states.get(l.digest) !== l.state;
      const moving = l.state === 'downloading' || l.state === 'extracting';
      if (changed || (due && moving)) out.push(`${short(l.digest)} ${describe(l)}`);
      this.#states.set(l.digest, l.state);
    }
    if (due) this.#lastLines = nowMs;
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }
}
