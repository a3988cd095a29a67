import { expect, it } from 'vitest';
import { background } from '../common/ctx';
import type { OciRuntime } from './oci-runtime';

export interface ContractSubject {
  readonly runtime: OciRuntime;
  /**
   * Creates `id` from a bundle whose process runs until killed, as the
   * monitor does in the daemon (conmon runs `runtime create`), leaving it
   * `created` for `runtime.start`.
   */
  create(id: string): Promise<void>;
}

/**
 * The behaviour the launcher relies on, shared by `FakeOciRuntime` (units)
 * and `RuncRuntime` (e2e on real runc).
 */
export function ociRuntimeContract(make: () => Promise<ContractSubject>): void {
  const ctx = background();

  it('reports unknown ids as absent and tolerates their teardown', async () => {
    const { runtime } = await make();
    expect(await runtime.state('absent-1', ctx)).toBeUndefined();
    expect(await runtime.kill('absent-1', 'SIGKILL', ctx)).toBe(false);
    expect(await runtime.delete('absent-1', ctx)).toBe(false);
  });

  it('starts, lists, kills and deletes a container', async () => {
    const { runtime, create } = await make();
    const id = `contract-${process.pid}-${Date.now()}`;
    await create(id);
    expect((await runtime.state(id, ctx))?.status).toBe('created');
    await runtime.start(id, ctx);
    const st = await runtime.state(id, ctx);
    expect(st).toMatchObject({ id, status: 'running' });
    expect(st!.pid).toBeGreaterThan(0);
    expect((await runtime.list(ctx)).map((s) => s.id)).toContain(id);
    expect(await runtime.kill(id, 'SIGKILL', ctx)).toBe(true);
    for (let i = 0; i < 100 && (await runtime.state(id, ctx))?.status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await runtime.state(id, ctx))?.status).toBe('stopped');
    expect(await runtime.delete(id, ctx)).toBe(true);
    expect(await runtime.state(id, ctx)).toBeUndefined();
    expect(await runtime.delete(id, ctx)).toBe(false);
  });
}
