/**
 * Annotations written into every spec, under containerd's keys so tools that
 * know containerd (and our own recovery, which can rebuild who-is-what from
 * `config.json` alone, as CRI-O's `LoadSandbox` does) read them unchanged.
 */
export const ANNOTATION = {
  containerType: 'io.kubernetes.cri.container-type',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  sandboxLogDirectory: 'io.kubernetes.cri.sandbox-log-directory',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

export const CONTAINER_TYPE = { sandbox: 'sandbox', container: 'container' } as const;
