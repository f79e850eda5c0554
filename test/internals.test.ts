// The Node internals the handle-level connection layer needs: present on this
// Node (CI runs this file on Node 20, 22 and 24), and the net.Socket fallback
// when they are not (forced with TCP_PREFORK_NET_SOCKET=1): the same
// behaviour through real processes and sockets.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { acceptHandles, createServerHandle, isTcpHandle, probe, readInto, streamPrimitives } from '../src/internals.js';
import { HandleLink } from '../src/link.js';
import { Client, cleanup, startFixture, until } from './helpers/proc.js';

afterEach(cleanup);

describe('on this Node', () => {
  it(`${process.version} has every internal the handle-level path uses`, () => {
    expect(probe()).toEqual({ handles: true, sharedBind: true, missing: [] });
    const s = streamPrimitives()!;
    expect(typeof new s.WriteWrap()).toBe('object');
    expect(s.state).toBeInstanceOf(Int32Array);
    expect(s.UV_EOF).toBeLessThan(0);
    expect(createServerHandle()).toBeTypeOf('function');
  });

  it('a listening server hands its connections over as raw TCP handles', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const got: unknown[] = [];
    expect(acceptHandles(server, (h) => got.push(h))).toBe(true);
    const c = await Client.open((server.address() as net.AddressInfo).port);
    expect(await until(() => got.length === 1)).toBe(true);
    expect(isTcpHandle(got[0])).toBe(true);
    const out: { port?: number } = {};
    (got[0] as { getpeername(o: object): number }).getpeername(out);
    expect(out.port).toBe(c.socket.localPort);
    (got[0] as { close(): void }).close();
    c.destroy();
    server.close();
  });
});

describe('reads into a buffer the worker owns (useUserBuffer)', () => {
  it(`${process.version} offers it on a connected handle`, async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const got: unknown[] = [];
    acceptHandles(server, (h) => got.push(h));
    const c = await Client.open((server.address() as net.AddressInfo).port);
    expect(await until(() => got.length === 1)).toBe(true);
    const h = got[0] as Parameters<typeof readInto>[0];
    expect(typeof h.useUserBuffer).toBe('function');
    expect(readInto(h, Buffer.alloc(64))).toBe(true);
    h.close();
    c.destroy();
    server.close();
  });

  it('every chunk a link hands on is its own copy: 20 connections read in turn, every chunk kept, none overwritten', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const kept = new Map<number, Buffer[]>();
    const links: HandleLink[] = [];
    acceptHandles(server, (h) => {
      const link = new HandleLink(h);
      const id = links.push(link) - 1;
      kept.set(id, []);
      link.start(id, {
        data: (conn, chunk) => kept.get(conn)!.push(chunk),
        end: () => {},
        close: () => {},
      });
    });
    const port = (server.address() as net.AddressInfo).port;
    const clients = await Promise.all(Array.from({ length: 20 }, () => Client.open(port)));
    expect(await until(() => links.length === 20)).toBe(true);
    // Rounds of writes from every client, each round's bytes distinct per client, sizes from 1 byte to 40 KiB.
    const sent = clients.map(() => [] as Buffer[]);
    for (let round = 0; round < 6; round++) {
      await Promise.all(
        clients.map((c, i) => {
          const size = [1, 100, 1500, 9000, 40000, 3][round] + i;
          const b = Buffer.alloc(size, (i * 7 + round * 31) & 0xff);
          sent[i].push(b);
          return c.write(b);
        }),
      );
    }
    const total = (xs: Buffer[]) => xs.reduce((a, b) => a + b.length, 0);
    expect(await until(() => [...kept.values()].every((xs, i) => total(xs) === total(sent[i])))).toBe(true);
    // The chunks of every connection, kept across all the other reads, still hold what that client sent.
    for (const [id, chunks] of kept) expect(Buffer.concat(chunks).equals(Buffer.concat(sent[id]))).toBe(true);
    for (const l of links) l.destroy();
    for (const c of clients) c.destroy();
    server.close();
  });
});

describe('TCP_PREFORK_NET_SOCKET=1: connections served with net.Socket', () => {
  const env = { TCP_PREFORK_NET_SOCKET: '1' };

  for (const async of [false, true]) {
    it(`${async ? 'async' : 'sync'}: the master says so; eof echo under random splits, a half-closed client's late reply, a SIGTERM drain`, async () => {
      const { proc, port } = await startFixture(
        { settings: { process_number: 2, protocol: 'eof', log_level: 'info' }, async, awaitMs: async ? 100 : 0, addressed: true },
        { env },
      );
      expect(proc.stdout).toContain('TCP_PREFORK_NET_SOCKET=1: connections are served with net.Socket');
      const c = await Client.open(port);
      const lines = Array.from({ length: 50 }, (_, i) => `line-${i}-${'x'.repeat(i * 7)}\r\n`).join('');
      for (let at = 0; at < lines.length; ) {
        const n = 1 + Math.floor(Math.random() * 40);
        await c.write(lines.slice(at, at + n));
        at += n;
      }
      await c.waitBytes(lines.length);
      expect(c.data.toString()).toBe(lines);
      const h = await Client.open(port);
      await h.write('half\r\n');
      h.end();
      await h.done;
      expect(h.data.toString()).toBe('half\r\n');
      await c.write('last\r\n');
      proc.kill('SIGTERM');
      await c.waitBytes(lines.length + 6);
      expect(c.data.toString().endsWith('last\r\n')).toBe(true);
      expect(await proc.exited).toEqual({ code: 0, signal: null });
    });
  }

  it('http keep-alive and hybrid handoffs work the same', async () => {
    const { port } = await startFixture(
      { settings: { process_number: 2, protocol: 'http', dispatch_mode: 'hybrid' }, mode: 'http' },
      { env },
    );
    const clients = await Promise.all(Array.from({ length: 40 }, () => Client.open(port)));
    await Promise.all(clients.map((c) => c.write('GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n')));
    for (const c of clients) {
      await c.waitBytes(2 * 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'.length);
      expect(c.data.toString()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'.repeat(2));
      c.destroy();
    }
  });
});
