import { CriError } from '../common/errors';

/**
 * Reserves names for ids (containerd/CRI-O `registrar`): a second sandbox or
 * container with the same metadata and attempt is refused until the first
 * is removed.
 */
export class Registrar {
  readonly #byName = new Map<string, string>();

  reserve(name: string, id: string): void {
    const holder = this.#byName.get(name);
    if (holder !== undefined && holder !== id) {
      throw new CriError('AlreadyExists', `failed to reserve name "${name}": already reserved for ${holder}`);
    }
    this.#byName.set(name, id);
  }

  /** Releases `name` if `id` holds it (idempotent). */
  release(name: string, id: string): void {
    if (this.#byName.get(name) === id) this.#byName.delete(name);
  }

  holder(name: string): string | undefined {
    return this.#byName.get(name);
  }
}

/** containerd's naming: `name_namespace_uid_attempt` for pods, `name_pod…_attempt` for containers. */
export const sandboxName = (c: { name: string; namespace: string; uid: string; attempt: number }): string =>
  `${c.name}_${c.namespace}_${c.uid}_${c.attempt}`;
export const containerName = (c: { name: string; attempt: number }, sandbox: { name: string; namespace: string; uid: string }): string =>
  `${c.name}_${sandbox.name}_${sandbox.namespace}_${sandbox.uid}_${c.attempt}`;
