import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../../common/log';

/**
 * Kills the process a `runc exec` started, found through runc's pid file.
 * Killing `runc exec` itself would orphan the process inside the container,
 * so it is only the last resort when no pid shows up: runc is still setting
 * up (we poll until it either writes the pid file or exits) or hangs.
 *
 * The pid is only signalled while `runc exec` is alive: runc waits for the
 * process, so until runc exits the pid cannot have been recycled.
 */
export async function killByPidFile(pidFile: string, runc: ChildProcess, exited: Promise<unknown>, giveUpMs = 10_000): Promise<void> {
  let gone = false;
  void exited.then(
    () => (gone = true),
    () => (gone = true),
  );
  const deadline = Date.now() + giveUpMs;
  while (!gone && Date.now() < deadline) {
    const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    if (pid > 0 && !gone) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      return;
    }
    await sleep(50);
  }
  if (!gone && runc.pid !== undefined) {
    log.warn({ pid: runc.pid }, 'runc exec did not start its process in time; killing it');
    try {
      process.kill(-runc.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Resolves when all of `child`'s stdio closed, or after `ms`; never rejects. */
export function waitClosed(child: ChildProcess, ms: number): Promise<void> {
  const open = [child.stdout, child.stderr].filter((s) => s && !s.destroyed && !s.readableEnded);
  if (open.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      child.off('close', done);
      resolve();
    }
    child.once('close', done);
  });
}

/** The `error`-level messages of a runc `--log-format json` log, joined. */
export async function runcErrors(logFile: string): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const msgs: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line) as { level?: string; msg?: string };
      if ((rec.level === 'error' || rec.level === 'fatal') && rec.msg) msgs.push(rec.msg);
    } catch {
      msgs.push(line.trim());
    }
  }
  return msgs.join('; ');
}
