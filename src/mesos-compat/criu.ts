import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { background } from '../common/ctx';
import { ExecError, type Exec } from '../common/exec';

/** Whether CRIU can checkpoint on this host, and if not, why (in CRIU's words). */
export type CriuStatus = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

function findCriu(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    if (dir && existsSync(join(dir, 'criu'))) return join(dir, 'criu');
  }
  return undefined;
}

/**
 * `criu check`: the kernel features a dump needs. Asked once per daemon
 * (the kernel does not change under it); CRIU 3.17, for one, cannot read
 * the vDSO layout of kernels much newer than itself and says so here.
 */
export class CriuProbe {
  #status: Promise<CriuStatus> | undefined;

  constructor(
    private readonly exec: Exec,
    private readonly find: () => string | undefined = findCriu,
  ) {}

  status(): Promise<CriuStatus> {
    this.#status ??= this.#probe();
    return this.#status;
  }

  async #probe(): Promise<CriuStatus> {
    const path = this.find();
    if (!path) return { ok: false, reason: 'CRIU is not installed (Debian package criu)' };
    try {
      await this.exec(path, ['check'], { signal: AbortSignal.any([background().signal, AbortSignal.timeout(30_000)]) });
      return { ok: true, path };
    } catch (err) {
      const out = err instanceof ExecError ? `${err.result.stderr.toString()}${err.result.stdout.toString()}` : String(err);
      const errors = out
        .split('\n')
        .map((l) => l.replace(/^Error \([^)]*\):\s*/, '').trim())
        .filter(Boolean)
        .slice(0, 3);
      return { ok: false, reason: `\`criu check\` fails on this kernel: ${errors.join('; ') || 'no reason given'}` };
    }
  }
}
