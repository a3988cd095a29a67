import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, buildLayer, busyboxEntries, ensureTestRegistry, pushImage, stopTestRegistry, type BuiltLayer } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import { rawLayer, rawTar, header, type RawEntry } from '../support/raw-tar';
import { createCtr, ctrConfig, failure, runPod, testCgroupParent } from '../containerizer/cri-fixture';

/**
 * Issue 11's hostile corpus, pulled through the real daemon from a registry
 * on loopback: each image is one layer that tries to write outside its
 * layer directory, to exhaust memory or disk, or to crash the daemon. A
 * canary directory on the host (the target of every escape) is compared
 * before and after; refused layers must fail PullImage with an error naming
 * the layer and the reason; the daemon must still answer at the end.
 */

const canary = mkdtempSync(join(tmpdir(), 'mcri-canary-'));
const MAX_LAYER = 128 << 20;

/** Everything observable about the canary tree: type, mode, owner, size, times, links, content, xattrs (one python3 run). */
function snapshot(dir: string): string {
  const script = `
import hashlib, os, sys
def walk(p, rel):
    st = os.lstat(p)
    h = ''
    if os.path.isfile(p) and not os.path.islink(p):
        h = hashlib.sha256(open(p, 'rb').read()).hexdigest()
    try:
        xs = sorted((n, os.getxattr(p, n, follow_symlinks=False).hex()) for n in os.listxattr(p, follow_symlinks=False))
    except OSError:
        xs = []
    print(rel, oct(st.st_mode), st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_nlink, h, xs)
    if os.path.isdir(p) and not os.path.islink(p):
        for n in sorted(os.listdir(p)):
            walk(os.path.join(p, n), rel + '/' + n)
walk(sys.argv[1], '.')
`;
  return execFileSync('python3', ['-c', script, dir]).toString();
}

type Want = 'ok' | RegExp;
interface Case {
  readonly name: string;
  readonly layer: () => BuiltLayer;
  readonly want: Want;
}

const C = canary;
const f = (name: string, data = 'x', more: Partial<RawEntry> = {}): RawEntry => ({ name, data, ...more });
const dir = (name: string, more: Partial<RawEntry> = {}): RawEntry => ({ name, type: '5', ...more });
const sym = (name: string, linkname: string): RawEntry => ({ name, type: '2', linkname });
const hard = (name: string, linkname: string): RawEntry => ({ name, type: '1', linkname });
const layer = (entries: RawEntry[]): (() => BuiltLayer) => () => rawLayer(rawTar(entries));

/** gzip of 64 MiB of zeros, repeated as gzip members: GiBs that compress to a few MiB. */
let zeros64: Buffer;
const zeroMembers = (n: number): Buffer[] => Array.from({ length: n }, () => zeros64);

const cases: Case[] = [
  { name: 'dotdot-name', layer: layer([f('../escape')]), want: /entry "..\/escape": name contains ".."/ },
  { name: 'dotdot-inner', layer: layer([dir('a/'), f('a/../../escape')]), want: /contains "\.\."/ },
  { name: 'absolute-name', layer: layer([f(`${C}/abs-pwned`)]), want: 'ok' },
  { name: 'symlink-dir-write-through', layer: layer([sym('l', C), f('l/pwned')]), want: 'ok' },
  { name: 'symlink-file-write-through', layer: layer([sym('v', `${C}/victim`), f('v', 'replaced')]), want: 'ok' },
  {
    // The attack of the issue: a device node and an xattr queued under `x/`, then `x` becomes a symlink to the host.
    name: 'swap-dir-before-device-node',
    layer: layer([dir('x/'), { name: 'x/sda', type: '4', devmajor: 8, devminor: 0, mode: 0o666 }, f('x/attr', 'a', { pax: { 'SCHILY.xattr.user.pwn': 'y' } }), sym('x', C), { name: 'x/sdb', type: '4', devmajor: 8, devminor: 0, mode: 0o666 }]),
    want: 'ok',
  },
  { name: 'swap-dir-before-fifo', layer: layer([dir('x/'), sym('x', C), { name: 'x/fifo', type: '6' }]), want: 'ok' },
  { name: 'swap-dir-before-xattr', layer: layer([dir('x/'), sym('x', C), f('x/victim', 'v', { pax: { 'SCHILY.xattr.user.pwn': 'y' } })]), want: 'ok' },
  { name: 'swap-dir-before-chmod', layer: layer([sym('x', C), dir('x/', { mode: 0o777 }), dir('x/sub/', { mode: 0o777 })]), want: 'ok' },
  { name: 'swap-dir-before-chown', layer: layer([sym('x', `${C}/victim`), f('x', 'o', { uid: 4321, gid: 4321 }), sym('y', C), dir('y/sub/', { uid: 4321, gid: 4321 })]), want: 'ok' },
  { name: 'swap-dir-before-utime', layer: layer([dir('x/'), sym('x', C), dir('x/sub/', { mtime: 0 }), f('x/victim', 'v', { mtime: 0 })]), want: 'ok' },
  { name: 'swap-dir-before-hardlink', layer: layer([f('t', 'target'), dir('x/'), sym('x', C), hard('x/hl', 't')]), want: 'ok' },
  { name: 'hardlink-to-host-file', layer: layer([hard('hl', `${C}/victim`)]), want: /hardlink target .* is not in the layer/ },
  { name: 'hardlink-dotdot', layer: layer([hard('hl', '../../../../../etc/passwd')]), want: /hardlink target contains "\.\."/ },
  { name: 'hardlink-to-symlink', layer: layer([sym('s', `${C}/victim`), hard('hl', 's'), f('hl', 'through')]), want: 'ok' },
  { name: 'hardlink-through-symlink', layer: layer([sym('up', C), hard('hl', 'up/victim')]), want: /is not in the layer/ },
  { name: 'hardlink-to-directory', layer: layer([dir('d/'), hard('hl', 'd')]), want: /hardlink to a directory/ },
  { name: 'whiteout-dotdot', layer: layer([f('.wh...', '')]), want: /bad whiteout name/ },
  { name: 'whiteout-dotdot-path', layer: layer([f('a/../.wh.victim', '')]), want: /contains "\.\."/ },
  { name: 'whiteout-under-symlink', layer: layer([sym('w', C), f('w/.wh.victim', '')]), want: 'ok' },
  { name: 'opaque-under-symlink', layer: layer([sym('o', C), f('o/.wh..wh..opq', '')]), want: 'ok' },
  { name: 'symlink-loop', layer: layer([sym('a', 'b'), sym('b', 'a'), f('a/f')]), want: /symbolic links/ },
  { name: 'name-4096-bytes', layer: layer([f('n', 'x', { pax: { path: `${'d/'.repeat(2047)}ff` } })]), want: /longer than 4095 bytes|too long/ },
  { name: 'component-256-bytes', layer: layer([f('n', 'x', { pax: { path: 'a'.repeat(256) } })]), want: /longer than 255 bytes/ },
  {
    // 2 GiB of PAX header, a few MiB compressed: refused from its size field, before any of it is read.
    name: 'huge-pax-header',
    layer: () => rawLayer(Buffer.alloc(0), { data: Buffer.concat([gzipSync(header({ name: 'PaxHeaders/x', type: 'x', size: 2 ** 31 })), ...zeroMembers(32)]) }),
    want: /Special header too large/,
  },
  {
    name: 'huge-gnu-longname',
    layer: () => rawLayer(Buffer.alloc(0), { data: Buffer.concat([gzipSync(header({ name: '././@LongLink', type: 'L', size: 2 ** 31 })), ...zeroMembers(4)]) }),
    want: /Special header too large/,
  },
  {
    // 1 GiB of zeros as one file; the daemon's --max-layer-size is 128 MiB.
    name: 'gzip-bomb',
    layer: () => rawLayer(Buffer.alloc(0), { data: Buffer.concat([gzipSync(header({ name: 'bomb', size: 2 ** 30 })), ...zeroMembers(16)]) }),
    want: /uncompressed layer exceeds 134217728 bytes/,
  },
  {
    name: 'longer-than-declared',
    layer: () => {
      const l = rawLayer(rawTar([f('a', 'x'.repeat(10_000))]), { compress: false });
      return { ...l, size: l.size - 1024 };
    },
    want: /the blob exceeds \d+ bytes/,
  },
  { name: 'uncompressed-labelled-gzip', layer: () => rawLayer(rawTar([f('plain', 'p')]), { compress: false, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }), want: 'ok' },
  { name: 'gzip-labelled-uncompressed', layer: () => rawLayer(rawTar([f('gz', 'g')]), { mediaType: 'application/vnd.oci.image.layer.v1.tar' }), want: 'ok' },
  {
    name: 'corrupt-gzip',
    layer: () => {
      const gz = Buffer.from(gzipSync(rawTar([f('a', 'y'.repeat(100_000))])));
      gz.fill(0x55, 20, 60);
      return rawLayer(Buffer.alloc(0), { data: gz });
    },
    want: /failed to unpack layer sha256:[0-9a-f]{64}: .*(invalid|incorrect|unknown)/i,
  },
  { name: 'truncated-file-data', layer: () => rawLayer(rawTar([f('a', 'x'.repeat(5000))]).subarray(0, 2048)), want: /Truncated|truncated|Premature/ },
  { name: 'bzip2-layer', layer: () => rawLayer(Buffer.alloc(0), { data: Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(100)]) }), want: /bzip2 compression is not supported/ },
];

describe('hostile layers through the daemon', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let before = '';
  const refs = new Map<string, { ref: string; digest: string }>();

  beforeAll(async () => {
    mkdirSync(join(canary, 'sub'));
    writeFileSync(join(canary, 'victim'), 'v');
    utimesSync(join(canary, 'victim'), new Date('2001-01-01'), new Date('2001-01-01'));
    utimesSync(join(canary, 'sub'), new Date('2002-02-02'), new Date('2002-02-02'));
    before = snapshot(canary);
    zeros64 = gzipSync(Buffer.alloc(64 << 20), { level: 1 });
    const reg = await ensureTestRegistry();
    for (const c of cases) {
      const l = c.layer();
      refs.set(c.name, { ref: (await pushImage(reg, `hostile/${c.name}:1`, buildImage([l]))).ref, digest: l.digest });
    }
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent, '--max-layer-size', String(MAX_LAYER)] });
  }, 120_000);

  afterAll(async () => {
    await d?.cleanup();
    await stopTestRegistry();
    rmSync(canary, { recursive: true, force: true });
  });

  it(`pulls or refuses each of ${cases.length} layers, naming the layer and the reason`, async () => {
    const results: string[] = [];
    for (const c of cases) {
      const { ref, digest } = refs.get(c.name)!;
      const t = Date.now();
      const hwmBefore = vmHwm(d.pid);
      const res = await d.image.call('PullImage', { image: { image: ref } }).then(
        () => 'ok',
        (err: { details?: string }) => err.details ?? String(err),
      );
      results.push(`${c.name}: ${Date.now() - t} ms, daemon VmHWM +${vmHwm(d.pid) - hwmBefore} KiB: ${res.slice(0, 200)}`);
      if (c.want === 'ok') expect(res, c.name).toBe('ok');
      else {
        expect(res, c.name).toMatch(c.want);
        expect(res, c.name).toContain(`layer ${digest}`);
      }
      expect(snapshot(canary), c.name).toBe(before);
    }
    process.stdout.write(`hostile corpus:\n${results.join('\n')}\n`);
    // Still serving, same process.
    await d.runtime.call('Version', {});
    expect(spawnSync('kill', ['-0', String(d.pid)]).status).toBe(0);
    // Nothing of the refused layers is left in staging.
    expect(readdirSync(join(d.workDir, 'provisioner/store/staging')).length).toBe(0);
  }, 120_000);

  it('refuses a FIFO or a block device as /etc/passwd with run_as_username, at once', async () => {
    const reg = await ensureTestRegistry();
    const base = await buildLayer(busyboxEntries());
    for (const [tag, entry] of [
      ['fifo', { name: 'etc/passwd', type: '6' }],
      ['blockdev', { name: 'etc/passwd', type: '4', devmajor: 8, devminor: 0 }],
    ] as const) {
      const { ref } = await pushImage(reg, `hostile/passwd-${tag}:1`, buildImage([base, rawLayer(rawTar([dir('etc/'), entry]))]));
      await d.image.call('PullImage', { image: { image: ref } });
      const pod = await runPod(d, `passwd-${tag}`);
      const t = Date.now();
      const err = await failure(createCtr(d, pod, ctrConfig('c', ref, ['/bin/true'], { linux: { security_context: { run_as_username: 'root' } } })));
      expect(Date.now() - t).toBeLessThan(5000);
      expect(err.code).toBe(3);
      expect(err.details).toMatch(/\/etc\/passwd .*is not a regular file/);
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: pod.id });
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    }
    await d.runtime.call('Version', {});
    expect(snapshot(canary)).toBe(before);
  }, 60_000);
});

/** Peak resident set of a process, KiB. */
function vmHwm(pid: number): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
