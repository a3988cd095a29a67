import { linkSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskUsage, DiskUsageCache, type DiskUsage } from './usage';

const tmp = mkdtempSync(join(tmpdir(), 'usage-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const du = (bytes: number): DiskUsage => ({ bytes: BigInt(bytes), inodes: 1n });

/** A walk that answers when told to, counting calls. */
function manualWalk(): { walk: (dir: string) => Promise<DiskUsage>; calls: string[]; finish(v: DiskUsage): void; fail(e: Error): void; inFlight(): number } {
  const waiting: Array<{ resolve: (v: DiskUsage) => void; reject: (e: Error) => void }> = [];
  const calls: string[] = [];
  return {
    calls,
    walk: (dir) => {
      calls.push(dir);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    finish: (v) => waiting.shift()!.resolve(v),
    fail: (e) => waiting.shift()!.reject(e),
    inFlight: () => waiting.length,
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('diskUsage', () => {
  it('counts allocated bytes and inodes, hardlinks once', async () => {
    const root = join(tmp, 'tree');
    mkdirSync(join(root, 'd'), { recursive: true });
    writeFileSync(join(root, 'd', 'f'), Buffer.alloc(100_000, 1));
    const u = await diskUsage(root);
    expect(u.inodes).toBe(3n);
    expect(u.bytes).toBeGreaterThanOrEqual(100_000n);
    expect(await diskUsage(join(tmp, 'missing'))).toEqual({ bytes: 0n, inodes: 0n });
  });

  it('gives the same answer whatever part of the walk is synchronous (listings cut mid-directory included)', async () => {
    const root = join(tmp, 'wide');
    for (let d = 0; d < 4; d++) {
      mkdirSync(join(root, `d${d}`, 'deep', 'er'), { recursive: true });
      for (let f = 0; f < 25; f++) writeFileSync(join(root, `d${d}`, f % 2 ? `f${f}` : join('deep', `f${f}`)), Buffer.alloc(f * 1000, 1));
    }
    linkSync(join(root, 'd0', 'f1'), join(root, 'd3', 'deep', 'er', 'link'));
    const all = await diskUsage(root, new Set(), { budget: 1_000_000 });
    expect(all.inodes).toBe(1n + 4n * 3n + 4n * 25n);
    for (const budget of [0, 1, 2, 3, 7, 30, 64, 113]) expect(await diskUsage(root, new Set(), { budget })).toEqual(all);
  });

  it('walks a tree deeper than the fds it keeps open, back up through `..`, and closes every fd', async () => {
    const root = join(tmp, 'deep');
    let dir = root;
    for (let i = 0; i < 40; i++) {
      dir = join(dir, `l${i}`);
      mkdirSync(join(dir, 'side'), { recursive: true }); // a sibling walked after the way back up
      writeFileSync(join(dir, 'f'), 'x');
    }
    const fds = readdirSync('/proc/self/fd').length;
    const all = await diskUsage(root, new Set(), { budget: 0 });
    expect(all.inodes).toBe(1n + 40n * 3n);
    for (const keepOpen of [1, 2, 5]) for (const budget of [0, 50, 1_000]) expect(await diskUsage(root, new Set(), { keepOpen, budget })).toEqual(all);
    expect(readdirSync('/proc/self/fd')).toHaveLength(fds);
  });

  it('counts names that are not UTF-8', async () => {
    const root = join(tmp, 'bytes');
    mkdirSync(root);
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0xff, 0xfe])]), Buffer.alloc(10_000, 1));
    const u = await diskUsage(root);
    expect(u.inodes).toBe(2n);
    expect(u.bytes).toBeGreaterThanOrEqual(10_000n);
  });
});

describe('diskUsage of a tree that changes under it (a hostile writable layer)', () => {
  /** A canary tree with the names the layer has, and many more entries than it. */
  const canary = (name: string): string => {
    const c = join(tmp, `canary-${name}`);
    for (let s = 0; s < 3; s++) {
      mkdirSync(join(c, `s${s}`), { recursive: true });
      for (let f = 0; f < 50; f++) writeFileSync(join(c, `s${s}`, `f${f}`), 'canary');
    }
    return c;
  };
  /** root/d/s{0,1,2}/f: 1 + 1 + 3 * 2 inodes. */
  const layer = (name: string): string => {
    const root = join(tmp, name);
    for (let s = 0; s < 3; s++) {
      mkdirSync(join(root, 'd', `s${s}`), { recursive: true });
      writeFileSync(join(root, 'd', `s${s}`, 'f'), 'mine');
    }
    return root;
  };

  for (const budget of [0, 1_000])
    it(`stays in a directory swapped for a symlink after its listing was read (budget ${budget})`, async () => {
      const root = layer(`swap-listed-${budget}`);
      const c = canary(`listed-${budget}`);
      const u = await diskUsage(root, new Set(), {
        budget,
        listed: (rel) => {
          if (rel !== 'd') return;
          renameSync(join(root, 'd'), join(root, 'away'));
          symlinkSync(c, join(root, 'd'));
        },
      });
      // the directory walked under its new name, the symlink never followed; nothing of the canary's 150 files
      expect(u.inodes).toBe(8n);
    });

  for (const budget of [0, 1_000])
    it(`does not follow a directory swapped for a symlink before it is opened (budget ${budget})`, async () => {
      const root = layer(`swap-unopened-${budget}`);
      const c = canary(`unopened-${budget}`);
      const u = await diskUsage(root, new Set(), {
        budget,
        listed: (rel) => {
          if (rel !== '') return;
          rmSync(join(root, 'd'), { recursive: true });
          symlinkSync(c, join(root, 'd'));
        },
      });
      expect(u.inodes).toBe(2n); // the root and the symlink itself
    });

  it('leaves a subtree moved under the walk below its kept fds uncounted, without escaping or leaking an fd', async () => {
    const root = join(tmp, 'moved');
    mkdirSync(join(root, 'a', 'b', 'c'), { recursive: true });
    mkdirSync(join(root, 'a', 'b2'), { recursive: true });
    mkdirSync(join(root, 'z'));
    const c = canary('moved');
    symlinkSync(c, join(root, 'a', 'b', 'c', 'link'));
    const fds = readdirSync('/proc/self/fd').length;
    const listed: string[] = [];
    const u = await diskUsage(root, new Set(), {
      keepOpen: 1,
      listed: (rel) => {
        listed.push(rel);
        if (rel === 'a/b/c') renameSync(join(root, 'a', 'b'), join(root, 'z', 'b'));
      },
    });
    // root, z, a, b, c and the link are counted; a's fd was closed and `..` of b is z now: what was
    // left of a to walk (b2, unless it came first) is left, and z's b is not walked twice
    const b2First = listed.indexOf('a/b2') >= 0 && listed.indexOf('a/b2') < listed.indexOf('a/b/c');
    expect(listed.filter((r) => r.startsWith('a/b2')).length).toBe(b2First ? 1 : 0);
    expect(listed.filter((r) => r.startsWith('z/'))).toEqual([]);
    expect(u.inodes).toBe(b2First ? 7n : 6n);
    expect(readdirSync('/proc/self/fd')).toHaveLength(fds);
  });
});

describe('DiskUsageCache', () => {
  it('walks once while fresh, serves a stale value while refreshing behind, and waits once expired', async () => {
    let now = 0;
    const w = manualWalk();
    const c = new DiskUsageCache({ freshMs: 2_000, maxAgeMs: 10_000, now: () => now, walk: w.walk });
    const first = c.get('a', '/a');
    const second = c.get('a', '/a'); // joins the walk in flight
    expect(w.calls).toEqual(['/a']);
    w.finish(du(10));
    expect(await first).toEqual(du(10));
    expect(await second).toEqual(du(10));

    now = 1_000;
    expect(await c.get('a', '/a')).toEqual(du(10));
    expect(w.calls).toHaveLength(1);

    now = 5_000; // stale: old value now, one refresh behind it
    expect(await c.get('a', '/a')).toEqual(du(10));
    expect(await c.get('a', '/a')).toEqual(du(10));
    expect(w.calls).toHaveLength(2);
    w.finish(du(20));
    await tick();
    expect(await c.get('a', '/a')).toEqual(du(20));

    now = 20_000; // expired: the answer waits for a new walk
    const late = c.get('a', '/a');
    let settled = false;
    void late.then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    w.finish(du(30));
    expect(await late).toEqual(du(30));
  });

  it('drops a walk that finishes after delete, and forgets failed first walks', async () => {
    const w = manualWalk();
    const c = new DiskUsageCache({ now: () => 0, walk: w.walk });
    const p = c.get('gone', '/gone');
    c.delete('gone');
    w.finish(du(1));
    expect(await p).toEqual(du(1)); // the caller still gets its answer
    expect(c.size).toBe(0);

    const bad = c.get('bad', '/bad');
    w.fail(new Error('EIO'));
    await expect(bad).rejects.toThrow('EIO');
    expect(c.size).toBe(0);
  });

  it('runs at most `concurrency` walks at once across keys', async () => {
    const w = manualWalk();
    const c = new DiskUsageCache({ concurrency: 2, now: () => 0, walk: w.walk });
    const all = ['a', 'b', 'c', 'd'].map((k) => c.get(k, `/${k}`));
    await tick();
    expect(w.inFlight()).toBe(2);
    w.finish(du(1));
    await tick();
    expect(w.inFlight()).toBe(2);
    w.finish(du(1));
    w.finish(du(1));
    await tick();
    w.finish(du(1));
    await Promise.all(all);
    expect(w.calls).toEqual(['/a', '/b', '/c', '/d']);
  });
});
