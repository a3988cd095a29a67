import { Client, credentials, status as Status, type ServiceError } from '@grpc/grpc-js';
import type { Config } from '../config';
import { imagesService, type PullProgress, type PullRequest } from '../admin/service';
import { ProgressView } from './progress-view';

export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

/**
 * `mesos-cri images pull REF`: asks the running daemon (over its socket,
 * `mesoscri.v1.Images/Pull`) to pull REF and shows the pull per layer as it
 * goes. Exit 0 once pulled, 1 when the pull or the daemon fails, 2 on usage.
 */
export async function imagesPullCommand(config: Config, args: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (args.length !== 1 || !args[0]) {
    io.stderr.write('mesos-cri: usage: mesos-cri images pull [--socket PATH] IMAGE\n');
    return 2;
  }
  const ref = args[0];
  const view = new ProgressView(io.stdout.isTTY === true);
  const client = new Client(`unix:${config.socket}`, credentials.createInsecure());
  const method = imagesService.Pull!;
  try {
    const last = await new Promise<PullProgress>((resolve, reject) => {
      const call = client.makeServerStreamRequest<PullRequest, PullProgress>(
        method.path,
        method.requestSerialize as (v: PullRequest) => Buffer,
        method.responseDeserialize as (b: Buffer) => PullProgress,
        { image: ref },
      );
      let latest: PullProgress = { layers: [] };
      call.on('data', (m: PullProgress) => {
        latest = m;
        const text = m.imageId ? view.finish(m.layers, Date.now()) : view.update(m.layers, Date.now());
        if (text) io.stdout.write(text);
      });
      call.on('error', reject);
      call.on('end', () => resolve(latest));
    });
    if (!last.imageId) throw new Error('the daemon ended the pull without an image id');
    io.stdout.write(`pulled ${ref}: ${last.imageId}\n`);
    return 0;
  } catch (err) {
    const e = err as Partial<ServiceError>;
    const why = e.code === Status.UNAVAILABLE ? `cannot reach mesos-cri at ${config.socket} (${e.details ?? 'unavailable'}); is the daemon running?` : (e.details ?? String(err));
    io.stderr.write(`mesos-cri: failed to pull ${ref}: ${why}\n`);
    return 1;
  } finally {
    client.close();
  }
}
