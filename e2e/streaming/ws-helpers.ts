import { PassThrough, type Readable } from 'node:stream';
import type WebSocket from 'ws';
import { configFor, handlerFor, kube } from './k8s-client';

export interface WsRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: { status?: string; reason?: string; message?: string; details?: { causes?: Array<{ reason?: string; message?: string }> } } | undefined;
  readonly protocol: string;
  readonly closeCode: number;
}

/** A stdout the library treats as a terminal (it has rows/columns and emits 'resize'). */
export class FakeTerminal extends PassThrough {
  rows = 24;
  columns = 80;
  setSize(columns: number, rows: number): void {
    this.columns = columns;
    this.rows = rows;
    this.emit('resize');
  }
}

export function collect(s: Readable): () => string {
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return () => text;
}

export function closed(ws: WebSocket): Promise<number> {
  return new Promise((r) => {
    if (ws.readyState === ws.CLOSED) r(-1);
    else ws.once('close', (code) => r(code));
  });
}

/** Runs an exec URL through client-node's `Exec` (WebSocket v5 offered first). */
export async function k8sExec(url: string, opts: { stdin?: Readable; tty?: boolean; stdout?: PassThrough; ca?: string } = {}): Promise<WsRun & { ws: WebSocket }> {
  const k = await kube();
  const exec = new k.Exec(configFor(url, { ca: opts.ca }), await handlerFor(url, { ca: opts.ca }));
  const stdout = opts.stdout ?? new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  let status: WsRun['status'];
  const ws = (await exec.exec('ns', 'pod', 'c', ['ignored'], stdout, opts.tty ? null : stderr, opts.stdin ?? null, opts.tty ?? false, (s) => {
    status = s as WsRun['status'];
  })) as unknown as WebSocket;
  const closeCode = await closed(ws);
  return { stdout: out(), stderr: err(), status, protocol: ws.protocol, closeCode, ws };
}

export function exitCodeOf(status: WsRun['status']): number {
  if (!status || status.status === 'Success') return 0;
  const c = status.details?.causes?.find((x) => x.reason === 'ExitCode');
  if (!c) throw new Error(status.message ?? 'unknown failure');
  return Number(c.message);
}
