import { log } from './log';

/**
 * An undo stack (CRI-O `ResourceCleaner`, containerd `retErr` defers): steps
 * run in reverse when the scope exits without `commit()`.
 */
export class Rollback implements AsyncDisposable {
  #undo: Array<{ what: string; fn: () => Promise<unknown> }> = [];
  #committed = false;

  add(what: string, fn: () => Promise<unknown>): void {
    this.#undo.push({ what, fn });
  }

  commit(): void {
    this.#committed = true;
  }

  async run(): Promise<void> {
    const steps = this.#undo.reverse();
    this.#undo = [];
    for (const step of steps) {
      await step.fn().catch((err: unknown) => log.error({ err, step: step.what }, 'rollback step failed'));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#committed) await this.run();
  }
}
