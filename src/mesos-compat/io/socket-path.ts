import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** `sizeof(sun_path)` minus the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/**
 * A path `connect(2)` accepts for the unix socket at `path`. Paths longer
 * than `sun_path` (conmon's `<bundle>/attach` under a deep work dir easily
 * is) are reached through `/proc/self/fd/<dirfd>/<name>` with the directory
 * held open until `close`, which is what conmon's socket-dir symlinks work
 * around on its side.
 */
export async function connectablePath(path: string): Promise<{ path: string; close: () => Promise<void> }> {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return { path, close: async () => undefined };
  const dir = await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  return { path: `/proc/self/fd/${dir.fd}/${basename(path)}`, close: () => dir.close() };
}
