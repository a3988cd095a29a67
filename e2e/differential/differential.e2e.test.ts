import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXCEPTIONS, exceptionsById } from './cases/exceptions';
import { GROUPS } from './cases/index';
import type { CaseSpec, GroupSpec } from './cases/types';
import { judge, type Exception, type Verdict } from './support/compare';
import { startDiffEnv, type DiffEnv } from './support/env';
import { runGroup, type CaseResult, type GroupResult } from './support/run';

/**
 * The differential suite (issue 14): every case of the catalogue runs on
 * containerd 1.6 and on mesos-cri, the container prints what it sees, and
 * the two views must be equal after normalisation, or differ only as a
 * reviewed exception says (`cases/exceptions.ts`, listed in the README).
 * Accepting or refusing a request is compared too, with the gRPC code.
 */

const CONCURRENCY = 2;
const ALL_CASES = GROUPS.flatMap((g) => g.cases.map((c) => ({ group: g, spec: c })));

interface Outcome {
  readonly containerd: CaseResult;
  readonly ours: CaseResult;
  readonly verdict: Verdict;
}

async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) await fn(t);
  }));
}

const declared = (ids: readonly string[] | undefined): Exception[] =>
  (ids ?? []).map((id) => {
    const e = exceptionsById.get(id);
    if (!e) throw new Error(`unknown exception ${id}`);
    return e;
  });

describe('differential: containerd 1.6 and mesos-cri give kubelet the same answers', () => {
  let env: DiffEnv | undefined;
  const outcomes = new Map<string, Outcome>();
  const failures: string[] = [];

  beforeAll(async () => {
    env = await startDiffEnv();
    const e = env;
    await pool(GROUPS, CONCURRENCY, async (g: GroupSpec) => {
      let results: [GroupResult, GroupResult];
      try {
        results = await Promise.all([runGroup(e.containerd, g, e.kit), runGroup(e.mesosCri, g, e.kit)]);
      } catch (err) {
        failures.push(`${g.name}: ${String(err)}`);
        return;
      }
      const [c, m] = results;
      for (const spec of g.cases) {
        const cr = c.cases.get(spec.name);
        const mr = m.cases.get(spec.name);
        if (!cr || !mr) continue;
        const podLevel = !c.pod.ok || !m.pod.ok ? g.podExceptions : undefined;
        outcomes.set(spec.name, { containerd: cr, ours: mr, verdict: judge(cr, mr, declared(podLevel ?? spec.exceptions)) });
      }
    });
    const report = summarise(outcomes);
    process.stdout.write(`differential: ${JSON.stringify(report)}\n`);
    if (process.env.MESOS_CRI_DIFF_DUMP) writeFileSync(process.env.MESOS_CRI_DIFF_DUMP, JSON.stringify(Object.fromEntries(outcomes), null, 1));
  }, 900_000);

  afterAll(async () => {
    await env?.stop();
  }, 300_000);

  it('ran every group on both runtimes', () => {
    expect(failures).toEqual([]);
    expect(ALL_CASES.length).toBeGreaterThanOrEqual(100);
    expect(new Set(ALL_CASES.map((c) => c.spec.name)).size).toBe(ALL_CASES.length);
  });

  it('never created anything through a dangling hostPath link: the canary dir stays empty', () => {
    expect(env).toBeDefined();
    expect(readdirSync(join(env!.kit.hostDir, 'canary'))).toEqual([]);
  });

  it('every exception is one the catalogue uses', () => {
    const used = new Set(GROUPS.flatMap((g) => [...(g.podExceptions ?? []), ...g.cases.flatMap((c: CaseSpec) => c.exceptions ?? [])]));
    expect(EXCEPTIONS.map((e) => e.id).filter((id) => !used.has(id))).toEqual([]);
  });

  it.each(ALL_CASES.map((c) => [c.spec.name, c.group.name] as const))('%s (pod %s)', (name) => {
    const o = outcomes.get(name);
    expect(o, `case ${name} did not run`).toBeDefined();
    if (o!.verdict.kind === 'differ') expect.fail(`${name} differs:\n  ${o!.verdict.problems.join('\n  ')}`);
  });
});

function summarise(outcomes: ReadonlyMap<string, Outcome>): Record<string, unknown> {
  const by = { match: 0, exception: 0, differ: 0 };
  const exceptions: Record<string, number> = {};
  for (const o of outcomes.values()) {
    by[o.verdict.kind]++;
    if (o.verdict.kind === 'exception') for (const id of o.verdict.ids) exceptions[id] = (exceptions[id] ?? 0) + 1;
  }
  return { cases: ALL_CASES.length, ran: outcomes.size, ...by, exceptions };
}
