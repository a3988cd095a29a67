import { describe } from 'vitest';
import { FakeOciRuntime } from './fake-oci-runtime';
import { ociRuntimeContract } from './oci-runtime.contract';

describe('FakeOciRuntime', () => {
  ociRuntimeContract(async () => ({ runtime: new FakeOciRuntime(), bundle: async () => '/bundle' }));
});
