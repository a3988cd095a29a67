import { Writable } from 'node:stream';
import { log } from '../common/log';

/** Resolves when `w` has flushed everything and finished, or is gone; never rejects. */
export function endAndWait(w: Writable, timeoutMs = 30_000): Promise<void> {
  if (w.writableFinished || w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      w.off('finish', done);
      w.off('close', done);
      w.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    w.once('finish', done);
    w.once('close', done);
    w.once('error', done);
    w.end();
  });
}

/** How much output may queue for one attached client before its output is dropped. */
export const ATTACH_BUFFER_LIMIT = 4 * 1024 * 1024;

/**
 * A Writable that never pushes back: chunks go to `target` while its queue
 * is under `limit` bytes and are dropped beyond that. Attach output uses it
 * so a client that stops reading cannot stall the container (conmon and
 * containerd drop output for slow attach clients the same way).
 */
export function lossyWritable(target: Writable, limit = ATTACH_BUFFER_LIMIT): Writable {
  let dropped = 0;
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (target.destroyed || target.writableEnded) {
        cb();
        return;
      }
      if (target.writableLength > limit) {
        if (dropped === 0) log.warn({ limit }, 'attach client is not reading; dropping its output');
        dropped += chunk.length;
        cb();
        return;
      }
      target.write(chunk);
      cb();
    },
    final(cb) {
      if (dropped > 0) log.info({ dropped }, 'attach client missed output');
      void endAndWait(target).then(() => cb());
    },
    destroy(err, cb) {
      if (!target.destroyed) target.destroy();
      cb(err);
    },
  });
}
