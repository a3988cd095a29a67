import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import type { Config } from '../config';
import { loadCri } from '../server';

/**
 * `mesos-cri status` (`crio status`, `crictl info`): asks the running
 * daemon over its socket for its versions, readiness, what it runs, its
 * image store usage and streaming URL. Exit 0 when the runtime and the
 * network are ready, 1 when not ready or unreachable.
 */
type Call = <R>(client: Client, rpc: string, req?: object) => Promise<R>;

const call: Call = (client, rpc, req = {}) =>
  new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (r: object, o: object, cb: (e: ServiceError | null, v: unknown) => void) => void>)[rpc]!;
    fn.call(client, req, { deadline: new Date(Date.now() + 10_000) }, (err, res) => (err ? reject(err) : resolve(res as never)));
  });

interface Condition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export async function statusCommand(config: Config, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<number> {
  const cri = loadCri();
  const addr = `unix:${config.socket}`;
  const runtime = new cri.runtime.v1.RuntimeService(addr, credentials.createInsecure()) as unknown as Client;
  const image = new cri.runtime.v1.ImageService(addr, credentials.createInsecure()) as unknown as Client;
  try {
    const v = await call<{ runtime_name: string; runtime_version: string; runtime_api_version: string }>(runtime, 'Version');
    const st = await call<{ status: { conditions: Condition[] }; info: Record<string, string>; runtime_handlers: Array<{ name: string }> }>(runtime, 'Status', { verbose: true });
    const pods = await call<{ items: Array<{ state: string }> }>(runtime, 'ListPodSandbox');
    const ctrs = await call<{ containers: Array<{ state: string }> }>(runtime, 'ListContainers');
    const imgs = await call<{ images: unknown[] }>(image, 'ListImages');
    const fs = await call<{ image_filesystems: Array<{ fs_id: { mountpoint: string }; used_bytes: { value: string }; inodes_used: { value: string } }> }>(image, 'ImageFsInfo');
    let info: { runtime?: string; streamingUrl?: string } = {};
    try {
      info = JSON.parse(st.info.config ?? '{}') as typeof info;
    } catch {
      // An older daemon's info: leave the fields out.
    }
    const count = (items: Array<{ state: string }>, ready: string): string => `${items.length} (${items.filter((i) => i.state === ready).length} ${ready.split('_').pop()!.toLowerCase()})`;
    const lines = [
      `socket: ${config.socket}`,
      `version: ${v.runtime_name} ${v.runtime_version} (CRI ${v.runtime_api_version})`,
      `oci runtime: ${info.runtime ?? 'unknown'}`,
      `runtime handlers: ${st.runtime_handlers.map((h) => h.name || '(default)').join(', ')}`,
    ];
    for (const c of st.status.conditions) lines.push(`${c.type}: ${c.status}${c.status ? '' : ` (${c.reason}: ${c.message})`}`);
    lines.push(`pods: ${count(pods.items, 'SANDBOX_READY')}`, `containers: ${count(ctrs.containers, 'CONTAINER_RUNNING')}`, `images: ${imgs.images.length}`);
    for (const f of fs.image_filesystems) lines.push(`image store: ${f.fs_id.mountpoint} ${f.used_bytes.value} bytes, ${f.inodes_used.value} inodes`);
    lines.push(`streaming: ${info.streamingUrl ?? 'unknown'}`);
    io.stdout.write(lines.join('\n') + '\n');
    return st.status.conditions.every((c) => c.status) ? 0 : 1;
  } catch (err) {
    const e = err as Partial<ServiceError>;
    io.stderr.write(`mesos-cri: cannot get status from ${config.socket}: ${e.details ?? String(err)}; is the daemon running?\n`);
    return 1;
  } finally {
    runtime.close();
    image.close();
  }
}
