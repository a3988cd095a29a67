import { describe } from 'vitest';
import { FakeOciRuntime } from './fake-oci-runtime';
import { ociRuntimeContract } from './oci-runtime.contract';

describe('FakeOciRuntime', () => {
  ociRuntimeContract(async () => {
    const runtime = new FakeOciRuntime();
    return { runtime, create: async (id) => void runtime.created(id) };
  });
});
