import type { CallCtx } from '../wrap';

/** Items per message: well under gRPC's 4 MiB default message size. */
const BATCH = 100;

/**
 * The `Stream*` RPCs of cri-api v0.36 (KEP-5825) carry exactly what their
 * `List*` twin returns, in batches of at least one item, each item once, then
 * EOF. `list` is the `List*` handler; `pick` and `wrap` move the items between
 * the two response shapes.
 */
export function streamOf<Req, ListRes, Item, StreamRes>(
  list: (req: Req, ctx: CallCtx) => Promise<ListRes>,
  pick: (res: ListRes) => readonly Item[] | undefined,
  wrap: (items: Item[]) => StreamRes,
  batch = BATCH,
) {
  return async (req: Req, send: (res: StreamRes) => Promise<void>, ctx: CallCtx): Promise<void> => {
    const items = pick(await list(req, ctx)) ?? [];
    for (let i = 0; i < items.length; i += batch) await send(wrap(items.slice(i, i + batch)));
  };
}
