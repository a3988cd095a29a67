import type { ShimDeps } from '../deps';
import type { RuntimeImpl } from '../handlers';
import { runtimeConfig } from './runtime-config';
import { status } from './status';
import { version } from './version';

/** The RuntimeService table: one file per RPC; RPCs not listed answer UNIMPLEMENTED. */
export function runtimeHandlers(deps: ShimDeps): RuntimeImpl {
  return {
    Version: version(deps),
    Status: status(deps),
    RuntimeConfig: runtimeConfig(deps),
  };
}
