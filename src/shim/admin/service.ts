import type { ServiceDefinition } from '@grpc/grpc-js';
import type { LayerProgress } from '../../common/metrics';

/**
 * mesos-cri's own service beside the CRI on the same socket (same 0660
 * trust as the CRI: the node admin and kubelet): what `mesos-cri images
 * pull` needs and the CRI has no message for. Messages are JSON; only our
 * CLI speaks it.
 *
 *   mesoscri.v1.Images/Pull  (PullRequest) → stream of PullProgress
 */
export const SERVICE = 'mesoscri.v1.Images';

export interface PullRequest {
  readonly image: string;
}

export interface PullProgress {
  /** The pull's layers (empty until the manifest is read). */
  readonly layers: readonly LayerProgress[];
  /** Set on the last message: the pulled image's id. */
  readonly imageId?: string;
}

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')) as unknown,
};

export const imagesService: ServiceDefinition = {
  Pull: {
    path: `/${SERVICE}/Pull`,
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
