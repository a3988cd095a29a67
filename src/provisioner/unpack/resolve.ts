import { lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CriError } from '../../common/errors';

/**
 * Resolves directories inside an extraction root without ever leaving it
 * (containerd `fs.RootPath`, `securejoin`): each component is `lstat`ed, a
 * symlink is followed as if the root were `/`, and a `..` that would climb
 * above the root is refused as hostile. Missing directories are created. The
 * result is a path made only of real directories, so later writes through
 * it cannot be redirected.
 *
 * NOTE: synchronous on purpose: see `unpack.ts`.
 */
export const hostile = (entry: string, why: string): CriError =>
  new CriError('InvalidArgument', `failed to unpack layer: hostile entry "${entry}": ${why}`);

const MAX_LINKS = 40;

export class DirResolver {
  /** Relative directory (joined with '/') → real absolute path. */
  #cache = new Map<string, string>();

  constructor(readonly root: string) {}

  /** Forget cached resolutions, after something that may have replaced a directory. */
  invalidate(): void {
    this.#cache.clear();
  }

  remember(rel: readonly string[], abs: string): void {
    this.#cache.set(rel.join('/'), abs);
  }

  /** The real path of directory `rel` under the root, creating missing parts (mode 0755) when `create`. */
  dir(rel: readonly string[], entry: string, create = true): string {
    if (rel.length === 0) return this.root;
    const key = rel.join('/');
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    // Walk from the deepest cached ancestor.
    let start = 0;
    let base: string[] = [];
    for (let i = rel.length - 1; i > 0; i--) {
      const anc = this.#cache.get(rel.slice(0, i).join('/'));
      if (anc !== undefined) {
        start = i;
        base = anc === this.root ? [] : anc.slice(this.root.length + 1).split('/');
        break;
      }
    }
    const real = this.#walk(base, rel.slice(start), entry, create);
    this.#cache.set(key, real);
    return real;
  }

  #walk(base: string[], rest: readonly string[], entry: string, create: boolean): string {
    const stack = [...base];
    const todo = [...rest];
    let links = 0;
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (stack.length === 0) throw hostile(entry, 'a symlink leads outside the root');
        stack.pop();
        continue;
      }
      const abs = join(this.root, ...stack, c);
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined) {
        if (!create) throw new CriError('NotFound', `failed to resolve "${entry}": "${[...stack, c].join('/')}" does not exist`);
        mkdirSync(abs, { mode: 0o755 });
        stack.push(c);
        continue;
      }
      if (st.isDirectory()) {
        stack.push(c);
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw hostile(entry, 'too many levels of symbolic links');
        const target = readlinkSync(abs);
        // An absolute target means the root's `/`, as it will inside the container.
        if (target.startsWith('/')) stack.length = 0;
        todo.unshift(...target.split('/'));
      } else {
        throw new CriError('InvalidArgument', `failed to unpack layer: "${entry}": parent "${[...stack, c].join('/')}" is not a directory`);
      }
    }
    return stack.length === 0 ? this.root : join(this.root, ...stack);
  }
}
