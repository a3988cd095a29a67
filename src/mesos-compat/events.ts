/** Container lifecycle events (CRI `ContainerEventType`), in the containerizer's terms. */
export type ContainerEventType = 'created' | 'started' | 'stopped' | 'deleted';

export interface ContainerEvent {
  readonly type: ContainerEventType;
  /** The container's id; for sandbox events, the sandbox's. */
  readonly containerId: string;
  readonly sandboxId: string;
  readonly at: bigint;
}

export type EventListener = (event: ContainerEvent) => void;

/**
 * An in-process fan-out of lifecycle events. Listeners must not throw or
 * block; `GetContainerEvents` streams queue what they receive.
 */
export class EventBus {
  readonly #listeners = new Set<EventListener>();

  subscribe(fn: EventListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  emit(event: ContainerEvent): void {
    for (const fn of this.#listeners) fn(event);
  }

  get listeners(): number {
    return this.#listeners.size;
  }
}
