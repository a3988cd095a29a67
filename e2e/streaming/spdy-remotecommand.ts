/**
 * The remote-command protocol on top of the test SPDY client, in client-go's
 * order (`tools/remotecommand` v2–v5): streams error, stdin, stdout, stderr
 * (no tty), resize (tty); stdin copied then half-closed; stdout/stderr read
 * to the end, and only then the status from the error stream.
 */
import { dialSpdy, type ClientStream, type SpdyClient } from './spdy-client';

export const REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export interface SpdyCommandSession {
  readonly client: SpdyClient;
  readonly protocol: string;
  readonly error: ClientStream;
  readonly stdin?: ClientStream;
  readonly stdout?: ClientStream;
  readonly stderr?: ClientStream;
  readonly resize?: ClientStream;
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Raw error-stream text ('' = success). */
  readonly errorText: string;
  /** The exit code decoded like client-go v4 (0 on success). */
  readonly exitCode: number;
  readonly how: { stdout?: 'fin' | 'rst'; error: 'fin' | 'rst' };
}

export async function openCommand(
  url: string,
  want: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean },
  protocols = REMOTE_COMMAND_PROTOCOLS,
): Promise<SpdyCommandSession> {
  const { client, response } = await dialSpdy(url, { protocols });
  if (!client) throw new Error(`upgrade failed: ${response.status} ${response.body}`);
  const protocol = response.headers['x-stream-protocol-version']?.[0] ?? '';
  const error = await client.open({ streamtype: 'error' });
  const stdin = want.stdin ? await client.open({ streamtype: 'stdin' }) : undefined;
  const stdout = want.stdout ? await client.open({ streamtype: 'stdout' }) : undefined;
  const stderr = want.stderr && !want.tty ? await client.open({ streamtype: 'stderr' }) : undefined;
  const resize = want.tty ? await client.open({ streamtype: 'resize' }) : undefined;
  return { client, protocol, error, stdin, stdout, stderr, resize };
}

/** Waits for the session to end and decodes its status the way client-go v4 does. */
export async function finishCommand(s: SpdyCommandSession): Promise<CommandResult> {
  const [outHow] = await Promise.all([s.stdout?.ended, s.stderr?.ended]);
  const errHow = await s.error.ended;
  const errorText = s.error.text();
  let exitCode: number | undefined;
  if (errorText && s.protocol.startsWith('v')) {
    const st = JSON.parse(errorText) as { status: string; reason?: string; message?: string; details?: { causes?: Array<{ reason?: string; message?: string }> } };
    if (st.status === 'Failure' && st.reason === 'NonZeroExitCode') {
      const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
      if (!cause) throw new Error('error stream protocol error: no exit code');
      exitCode = Number.parseInt(cause.message!, 10);
    } else if (st.status === 'Failure') {
      throw new Error(st.message);
    } else if (st.status !== 'Success') {
      throw new Error('error stream protocol error: unknown error');
    }
  } else if (errorText) {
    throw new Error(errorText);
  }
  await s.client.close();
  return {
    stdout: s.stdout?.text() ?? '',
    stderr: s.stderr?.text() ?? '',
    errorText,
    exitCode: exitCode ?? 0,
    how: { stdout: outHow, error: errHow },
  };
}

/** One-shot exec: optional stdin (sent then half-closed), returns output and exit code. */
export async function spdyRun(url: string, opts: { stdin?: string; tty?: boolean; stderr?: boolean; protocols?: string[] } = {}): Promise<CommandResult & { protocol: string }> {
  const tty = opts.tty ?? false;
  const s = await openCommand(url, { stdin: opts.stdin !== undefined, stdout: true, stderr: opts.stderr ?? !tty, tty }, opts.protocols);
  if (s.stdin) {
    s.stdin.write(opts.stdin!);
    s.stdin.finish();
  }
  return { ...(await finishCommand(s)), protocol: s.protocol };
}

/** Polls until `pred` holds (no fixed sleeps). */
export async function until(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
