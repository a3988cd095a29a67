import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { endAndWait, lossyWritable } from './io';

describe('lossyWritable', () => {
  it('never blocks the writer and bounds what queues on a stuck target', async () => {
    const stuck = new Writable({ highWaterMark: 1024, write: () => undefined }); // never calls back
    const lossy = lossyWritable(stuck, 4 * 1024 * 1024);
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => lossy.write(chunk, (err) => (err ? reject(err) : resolve())));
    }
    expect(stuck.writableLength).toBeLessThanOrEqual(5 * 1024 * 1024);
    stuck.destroy();
  });

  it('passes everything through to a reading target and ends it', async () => {
    const got: Buffer[] = [];
    const target = new Writable({ write: (c: Buffer, _e, cb) => (got.push(c), cb()) });
    const lossy = lossyWritable(target);
    lossy.write('a');
    lossy.write('b');
    await endAndWait(lossy);
    expect(Buffer.concat(got).toString()).toBe('ab');
    expect(target.writableFinished).toBe(true);
  });
});
