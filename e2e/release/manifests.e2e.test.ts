import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { K8sSchema } from './k8s-schema';

/**
 * Issue 16 (cluster-wide install): every Kubernetes object in manifests/ conforms to the
 * OpenAPI model types of @kubernetes/client-node (no kubectl, no apiserver), and the
 * DaemonSet runs the installer image the way its entrypoint expects.
 */
const REPO = join(__dirname, '..', '..');
const MANIFESTS = join(REPO, 'manifests');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * Component configs are Kubernetes objects with no API model in client-node: the fields
 * our snippet may use, from k8s.io/kubelet/config/v1beta1 `KubeletConfiguration`.
 */
const COMPONENT_CONFIGS: Record<string, readonly string[]> = {
  'kubelet.config.k8s.io/v1beta1 KubeletConfiguration': [
    'apiVersion', 'kind', 'containerRuntimeEndpoint', 'imageServiceEndpoint', 'cgroupDriver',
    'runtimeRequestTimeout', 'imageMinimumGCAge', 'imageGCHighThresholdPercent', 'imageGCLowThresholdPercent',
  ],
};

type Obj = Record<string, unknown>;
interface Doc {
  file: string;
  obj: Obj;
}

function k8sObjects(): Doc[] {
  const out: Doc[] = [];
  for (const file of readdirSync(MANIFESTS).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(MANIFESTS, file), 'utf8'))) {
      expect(doc.errors, file).toEqual([]);
      const obj = doc.toJS() as unknown;
      if (obj && typeof obj === 'object' && 'apiVersion' in obj && 'kind' in obj) out.push({ file, obj: obj as Obj });
    }
  }
  return out;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

let schema: K8sSchema;
let daemonset: Obj;

beforeAll(async () => {
  schema = await K8sSchema.load();
  daemonset = k8sObjects().find((d) => d.obj.kind === 'DaemonSet')!.obj;
});

describe('manifests schema', () => {
  it('validates every Kubernetes object in manifests/ against its client-node model', () => {
    const checked: string[] = [];
    for (const { file, obj } of k8sObjects()) {
      const type = schema.typeOf(String(obj.apiVersion), String(obj.kind));
      if (type) {
        expect(schema.validate(obj, type), `${file} (${type})`).toEqual([]);
        checked.push(`${file}:${type}`);
        continue;
      }
      const fields = COMPONENT_CONFIGS[`${String(obj.apiVersion)} ${String(obj.kind)}`];
      expect(fields, `${file}: ${String(obj.apiVersion)} ${String(obj.kind)} has no model`).toBeDefined();
      expect(Object.keys(obj).filter((k) => !fields!.includes(k)), file).toEqual([]);
      checked.push(`${file}:${String(obj.kind)}`);
    }
    expect(checked).toEqual(['daemonset.yaml:V1DaemonSet', 'kubelet-config.yaml:KubeletConfiguration', 'runtimeclass.yaml:V1RuntimeClass', 'runtimeclass.yaml:V1RuntimeClass']);
  });

  it('catches a misspelled field, a missing required field and a wrongly typed value', () => {
    const misspelled = clone(daemonset) as { spec: { template: { spec: { initContainers: Obj[] } } } };
    const c = misspelled.spec.template.spec.initContainers[0]!;
    c.volumeMount = c.volumeMounts;
    delete c.volumeMounts;
    const errs = schema.validate(misspelled, 'V1DaemonSet');
    expect(errs[0]).toMatch(/^\.spec\.template\.spec\.initContainers\[0\]\.volumeMount: unknown field \(V1Container has .*volumeMounts/);
    // The library alone would drop it silently; the round trip notices too.
    expect(errs).toContain('V1DaemonSet: ObjectSerializer does not round-trip the object unchanged');

    const top = { ...clone(daemonset), metdata: {} };
    expect(schema.validate(top, 'V1DaemonSet')[0]).toMatch(/^\.metdata: unknown field/);

    const noSelector = clone(daemonset) as { spec: Obj };
    delete noSelector.spec.selector;
    expect(schema.validate(noSelector, 'V1DaemonSet')).toContain('.spec.selector: required by V1DaemonSetSpec');

    const noPath = clone(daemonset) as { spec: { template: { spec: { volumes: Array<{ hostPath: Obj }> } } } };
    delete noPath.spec.template.spec.volumes[0]!.hostPath.path;
    expect(schema.validate(noPath, 'V1DaemonSet')).toContain('.spec.template.spec.volumes[0].hostPath.path: required by V1HostPathVolumeSource');

    const wrongType = clone(daemonset) as { spec: { template: { spec: Obj } } };
    wrongType.spec.template.spec.hostPID = 'yes';
    expect(schema.validate(wrongType, 'V1DaemonSet')[0]).toMatch(/^\.spec\.template\.spec\.hostPID: expected a boolean/);

    const rc = { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'x' } };
    expect(schema.validate(rc, schema.typeOf(rc.apiVersion, rc.kind)!)).toContain('.handler: required by V1RuntimeClass');
  });

  it('runs the installer image with the node root where its entrypoint installs', () => {
    const spec = (daemonset as { spec: { template: { spec: Obj } } }).spec.template.spec as {
      hostPID: boolean;
      initContainers: Array<{ image: string; args: string[]; env: Array<{ name: string; value: string }>; volumeMounts: Array<{ name: string; mountPath: string }>; securityContext: { privileged: boolean } }>;
      containers: Array<{ image: string; args: string[] }>;
      volumes: Array<{ name: string; hostPath: { path: string; type: string } }>;
    };
    const image = `mesos-cri-installer:${VERSION}`;
    const install = spec.initContainers[0]!;
    expect(install.image).toBe(image);
    expect(install.args).toEqual(['install', '--activate']);
    expect(install.securityContext.privileged).toBe(true);
    expect(spec.hostPID).toBe(true);
    const rootEnv = install.env.find((e) => e.name === 'MESOS_CRI_HOST_ROOT')!.value;
    const mount = install.volumeMounts.find((m) => m.mountPath === rootEnv)!;
    expect(spec.volumes.find((v) => v.name === mount.name)!.hostPath).toEqual({ path: '/', type: 'Directory' });
    expect(spec.containers.map((c) => [c.image, c.args])).toEqual([[image, ['pause']]]);
    // The same default is baked into the image (scripts/build-installer-image.sh).
    expect(readFileSync(join(REPO, 'scripts', 'build-installer-image.sh'), 'utf8')).toContain(`--config.env MESOS_CRI_HOST_ROOT=${rootEnv}`);
  });
});
