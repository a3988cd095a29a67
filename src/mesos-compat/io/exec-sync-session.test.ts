import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { EXEC_OUTPUT_CAP, execSyncSession } from './exec-sync-session';

// A stand-in for native/mesos-cri-exec: prints the plan it was given, runs
// its "command" as a shell script and reports the exit on fd 4.
const dir = mkdtempSync(join(tmpdir(), 'exec-sync-session-'));
const helper = join(dir, 'helper');
writeFileSync(helper, '#!/bin/sh\necho "plan=$1"\nshift\nsh -c "$1" 3>&- 4>&-\nprintf \'{"exitCode":%d}\\n\' $? >&4\n');
chmodSync(helper, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const target = { containerId: 'c1', helper, plan: '/plans/c1' };

describe('execSyncSession', () => {
  it("runs the target's helper with its plan and captures both streams and the exit code", async () => {
    const r = await execSyncSession(target, ['echo out; echo err >&2; exit 4'], { timeoutSeconds: 0 }, background());
    expect(r.exitCode).toBe(4);
    expect(r.stdout.toString()).toBe('plan=/plans/c1\nout\n');
    expect(r.stderr.toString()).toBe('err\n');
  });

  it('keeps at most EXEC_OUTPUT_CAP bytes of a stream and still answers the exit code', async () => {
    const r = await execSyncSession(target, [`head -c ${EXEC_OUTPUT_CAP + 4096} /dev/zero; exit 2`], { timeoutSeconds: 0 }, background());
    expect(r.exitCode).toBe(2);
    expect(r.stdout.length).toBe(EXEC_OUTPUT_CAP);
    expect(r.stdout.subarray(0, 15).toString()).toBe('plan=/plans/c1\n');
  });
});
