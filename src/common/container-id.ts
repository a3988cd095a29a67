/**
 * Mesos `ContainerID`: a value with an optional parent. A pod sandbox is a
 * top-level container; a CRI container is nested under its sandbox.
 */
export interface ContainerId {
  readonly value: string;
  readonly parent?: ContainerId;
}

export const topLevel = (value: string): ContainerId => ({ value });
export const nested = (parent: ContainerId, value: string): ContainerId => ({ value, parent });

/** `parent.child` form used in logs and as a map key. */
export const idString = (id: ContainerId): string => (id.parent ? `${idString(id.parent)}.${id.value}` : id.value);

export const rootOf = (id: ContainerId): ContainerId => (id.parent ? rootOf(id.parent) : id);
