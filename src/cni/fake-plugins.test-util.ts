import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Exec, ExecResult } from '../common/exec';

/** One recorded plugin call: which binary, its CNI env and its parsed stdin. */
export interface PluginCall {
  readonly plugin: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: Record<string, unknown>;
}

/**
 * A fake `Exec` standing in for plugin binaries: records every call and
 * answers from `respond`. Binaries must exist (the isolator searches the
 * path), so `binDir` holds empty executables named after the plugins.
 */
export function fakePlugins(names: string[], respond: (call: PluginCall) => Partial<ExecResult> & { json?: unknown } = () => ({})) {
  const binDir = mkdtempSync(join(tmpdir(), 'cni-bin-'));
  for (const n of names) {
    writeFileSync(join(binDir, n), '');
    chmodSync(join(binDir, n), 0o755);
  }
  const calls: PluginCall[] = [];
  const exec: Exec = async (file, _args, _ctx, opts = {}) => {
    const call: PluginCall = {
      plugin: file.slice(binDir.length + 1),
      env: opts.env ?? {},
      stdin: JSON.parse(String(opts.input)) as Record<string, unknown>,
    };
    calls.push(call);
    const r = respond(call);
    return {
      code: r.code ?? 0,
      signal: r.signal ?? null,
      stdout: r.stdout ?? Buffer.from(r.json === undefined ? '' : JSON.stringify(r.json)),
      stderr: r.stderr ?? Buffer.alloc(0),
    };
  };
  return { binDir, calls, exec };
}
