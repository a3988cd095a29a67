import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilteredConnection } from './connection';
import { Flag, FrameType } from './frames';
import { frame, parseFrames } from './testing';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * What leaves the socket, write by write: the server's side of a real
 * unix-socket connection, its flushes counted where Node hands them to the
 * kernel.
 */
describe('FilteredConnection, server to client', () => {
  let dir: string;
  let server: Server;
  let conn: FilteredConnection;
  let writes: Buffer[];
  let client: Socket;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'h2conn-'));
    const path = join(dir, 's');
    const accepted = new Promise<Socket>((resolve) => (server = createServer(resolve)));
    await new Promise<void>((r) => server.listen(path, r));
    client = connect(path);
    client.on('data', () => undefined);
    const socket = await accepted;
    writes = [];
    const writev = socket._writev!.bind(socket);
    socket._writev = (chunks, cb) => (writes.push(Buffer.concat(chunks.map((c) => c.chunk as Buffer))), writev(chunks, cb));
    const write = socket._write.bind(socket);
    socket._write = (chunk: Buffer, enc, cb) => (writes.push(chunk), write(chunk, enc, cb));
    conn = new FilteredConnection(socket, { maxBlockSize: 1 << 20, maxListSize: 1 << 20, onReject: () => undefined });
  });
  afterEach(() => {
    conn.destroy();
    client.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const kinds = (b: Buffer): string[] => parseFrames(b).map((f) => `${f.type}/${f.flags & Flag.END_STREAM}`);

  it('sends a unary reply whose trailers come turns after its message in one write', async () => {
    conn.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x88])), frame(FrameType.DATA, 0, 1, Buffer.alloc(5))]));
    await turn();
    await turn();
    expect(writes).toEqual([]); // held: the reply is not whole yet
    conn.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from([0x88])));
    await turn();
    expect(writes.map(kinds)).toEqual([[`${FrameType.HEADERS}/0`, `${FrameType.DATA}/0`, `${FrameType.HEADERS}/1`]]);
  });

  it('sends what the client must not wait for at the end of the tick: SETTINGS, PING, a stream ended by its message', async () => {
    for (const f of [frame(FrameType.SETTINGS, 0, 0), frame(FrameType.PING, Flag.ACK, 0, Buffer.alloc(8)), frame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.alloc(5))]) {
      conn.write(f);
      await new Promise((r) => process.nextTick(r));
      await new Promise((r) => process.nextTick(r));
    }
    await turn();
    expect(writes.map(kinds)).toEqual([[`${FrameType.SETTINGS}/0`], [`${FrameType.PING}/1`], [`${FrameType.DATA}/1`]]);
  });

  it('holds the messages of a stream that goes on (a server stream) three turns at most', async () => {
    conn.write(frame(FrameType.DATA, 0, 5, Buffer.alloc(5)));
    for (let i = 0; i < 2; i++) await turn();
    expect(writes).toEqual([]);
    for (let i = 0; i < 2; i++) await turn();
    expect(writes.map(kinds)).toEqual([[`${FrameType.DATA}/0`]]);
  });
});
