import { capabilityGroup, seccompGroup, userGroup } from './security';
import { imageGroup, mountGroup, processGroup, resourceGroup } from './process';
import {
  allHostGroup,
  crictlGroup,
  hostIpcGroup,
  hostNetworkGroup,
  hostNetworkHostnameGroup,
  hostPidGroup,
  namespaceGroup,
  podGroupOnlyGroup,
  podNoDnsGroup,
  podSeccompRefGroup,
  podSettingsGroup,
  privilegedGroup,
  privilegedPodGroup,
  sharedPidGroup,
  unprivilegedPodGroup,
} from './pods';
import type { GroupSpec } from './types';

/** The catalogue, the biggest groups first so the pool finishes evenly. */
export const GROUPS: readonly GroupSpec[] = [
  userGroup,
  capabilityGroup,
  processGroup,
  seccompGroup,
  mountGroup,
  resourceGroup,
  namespaceGroup,
  imageGroup,
  crictlGroup,
  privilegedGroup,
  privilegedPodGroup,
  hostNetworkGroup,
  hostPidGroup,
  hostIpcGroup,
  sharedPidGroup,
  allHostGroup,
  podSettingsGroup,
  podNoDnsGroup,
  podGroupOnlyGroup,
  hostNetworkHostnameGroup,
  podSeccompRefGroup,
  unprivilegedPodGroup,
];
