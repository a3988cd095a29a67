import type { ServiceDefinition } from '@grpc/grpc-js';
import type { PullTrackingStore } from '../image/store';
import { pullWithProgress } from './pull';
import { imagesService } from './service';

/** mesos-cri's own services for `CriServer` (see `service.ts`). */
export const adminServices = (store: PullTrackingStore): Array<{ definition: ServiceDefinition; impl: Record<string, unknown> }> => [
  { definition: imagesService, impl: { Pull: pullWithProgress(store) } },
];
