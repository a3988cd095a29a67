import type { Difference } from './view';
import { diff } from './view';
import type { CaseResult } from './run';

/**
 * A reviewed difference between containerd 1.6 and mesos-cri: what it
 * covers and why we keep it. Cases name the exceptions they show; the
 * README lists them all.
 */
export interface Exception {
  readonly id: string;
  /** One paragraph: what differs and why ours is the behaviour we keep. */
  readonly why: string;
  /** View differences it explains. */
  readonly covers?: (d: Difference) => boolean;
  /**
   * Both refuse, with these codes (containerd's, ours), at the same call
   * unless `stages` says at which.
   */
  readonly codes?: { readonly containerd: string; readonly ours: string; readonly stages?: { readonly containerd: string; readonly ours: string } };
  /** containerd runs it, we refuse it with this code (or the other way round). */
  readonly outcome?: { readonly refused: 'containerd' | 'mesos-cri'; readonly code: string };
  /**
   * Owned by another issue still in flight: the difference may or may not
   * show any more once that lands, so it is not held against the case.
   */
  readonly pending?: string;
}

export type Verdict =
  | { readonly kind: 'match' }
  | { readonly kind: 'exception'; readonly ids: readonly string[] }
  | { readonly kind: 'differ'; readonly problems: readonly string[] };

/** A pending exception that names nothing in particular stands for whatever its issue changes. */
const blanket = (e: Exception): boolean => e.pending !== undefined && !e.covers && !e.codes && !e.outcome;

const fmt = (d: Difference): string => `[${d.section}] ${d.side === 'order' ? 'order differs' : `only ${d.side}`}: ${d.line}`;

const describe = (r: CaseResult): string => (r.kind === 'ran' ? 'ran' : `refused at ${r.stage} with ${r.code}: ${r.message}`);

/**
 * Compares one case's results under its declared exceptions. Every
 * difference must be explained by one of them, and each declared exception
 * must explain something (a stale one fails the case too, so the catalogue
 * stays true), unless it is pending on another issue.
 */
export function judge(containerd: CaseResult, ours: CaseResult, declared: readonly Exception[]): Verdict {
  const used = new Set<string>();
  const problems: string[] = [];
  if (containerd.kind === 'ran' && ours.kind === 'ran') {
    for (const d of diff(containerd.view, ours.view)) {
      const by = declared.find((e) => e.covers?.(d) ?? blanket(e));
      if (by) used.add(by.id);
      else problems.push(fmt(d));
    }
  } else if (containerd.kind === 'refused' && ours.kind === 'refused') {
    if (containerd.code !== ours.code || containerd.stage !== ours.stage) {
      const by =
        declared.find((e) => {
          const c = e.codes;
          if (!c || c.containerd !== containerd.code || c.ours !== ours.code) return false;
          return c.stages ? c.stages.containerd === containerd.stage && c.stages.ours === ours.stage : containerd.stage === ours.stage;
        }) ?? declared.find(blanket);
      if (by) used.add(by.id);
      else problems.push(`both refuse, differently: containerd ${describe(containerd)}; mesos-cri ${describe(ours)}`);
    }
  } else {
    const refusedBy = containerd.kind === 'refused' ? 'containerd' : 'mesos-cri';
    const refusal = containerd.kind === 'refused' ? containerd : ours.kind === 'refused' ? ours : undefined;
    const by = declared.find((e) => e.outcome?.refused === refusedBy && e.outcome.code === refusal?.code) ?? declared.find(blanket);
    if (by) used.add(by.id);
    else problems.push(`containerd ${describe(containerd)}; mesos-cri ${describe(ours)}`);
  }
  for (const e of declared) if (!used.has(e.id) && !e.pending) problems.push(`stale exception ${e.id}: it explains no difference`);
  if (problems.length > 0) return { kind: 'differ', problems };
  return used.size > 0 ? { kind: 'exception', ids: [...used] } : { kind: 'match' };
}
