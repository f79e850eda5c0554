// The connection table (src/connections.ts) in the test process itself, over
// real loopback sockets, at both link levels: libuv's handle (HandleLink, as a
// worker accepts on its listening handle) and net.Socket (SocketLink, for TLS
// and a Node without the internals). No fork: every hook, counter and callback
// of the host is in reach. Where a callback's kind matters, each test runs
// with a plain one and with an `async function`.
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { CallbackError, FramingError, InputLimitError } from '../src/errors.js';
import type { Remote } from '../src/events.js';
import { type Client, sleep, until } from './helpers/proc.js';
import { type Bench, busy, closeBenches, KINDS, serve } from './helpers/table.js';

afterEach(closeBenches);

const STYLES = ['sync', 'async'] as const;
const CRLF = Buffer.from('\r\n');
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const text = (c: Client) => c.data.toString('latin1');
const line = (m: Buffer) => m.toString('latin1').replace(/\r\n$/, '');

/** Waits for `pred`, or fails naming `what`. */
async function soon(pred: () => boolean, what: string, ms = 3000): Promise<void> {
  if (!(await until(pred, ms, 2))) throw new Error(`timed out waiting for ${what}`);
}

/** The client is closed by the server within `ms`. */
async function closedWithin(c: Client, ms = 3000): Promise<void> {
  await Promise.race([c.done, sleep(ms)]);
  expect(c.closed, 'connection closed by the server').toBe(true);
}

/** Messages received, per connection id. */
class Inbox {
  readonly by = new Map<string, Buffer[]>();
  add(m: Buffer, r: Remote): void {
    let list = this.by.get(r.id);
    if (!list) this.by.set(r.id, (list = []));
    list.push(m);
  }
  of(r: Remote): Buffer[] {
    return this.by.get(r.id) ?? [];
  }
  lines(r: Remote): string[] {
    return this.of(r).map((m) => m.toString('latin1'));
  }
}

// ---------------------------------------------------------------- PROXY headers

const V1 = Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n', 'latin1');

/** A PROXY v2 header (TCP over IPv4). */
function v2tcp4(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const sig = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
  const addr = Buffer.alloc(12);
  Buffer.from(src).copy(addr, 0);
  Buffer.from(dst).copy(addr, 4);
  addr.writeUInt16BE(sport, 8);
  addr.writeUInt16BE(dport, 10);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addr.length);
  return Buffer.concat([sig, Buffer.from([0x21, 0x11]), len, addr]);
}
const V2 = v2tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1111, 2222);

/** Ways to write a header and its data: named, as the writes. */
function splits(head: Buffer, data: Buffer): [string, Buffer[]][] {
  const all = Buffer.concat([head, data]);
  const h = head.length;
  return [
    ['one write', [all]],
    ['cut inside the header', [all.subarray(0, 7), all.subarray(7)]],
    ['the header, then the data', [all.subarray(0, h), all.subarray(h)]],
    ['the header with 3 bytes of data, then the rest', [all.subarray(0, h + 3), all.subarray(h + 3)]],
    ['the header less a byte, then that byte with data', [all.subarray(0, h - 1), all.subarray(h - 1)]],
    ['the header a byte at a time, then the data', [...[...head].map((b) => Buffer.from([b])), data]],
  ];
}

const HTTP_GET = 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n';

/** Protocol, header, data, and the messages receive must get (raw: their concatenation). */
const PROXIED: [string, 'raw' | 'eof' | 'http', Buffer, string, string[]][] = [
  ['raw, v1', 'raw', V1, 'hello raw\x00\xffPROXY world', ['hello raw\x00\xffPROXY world']],
  ['raw, v2', 'raw', V2, 'hello raw\x00\xffPROXY world', ['hello raw\x00\xffPROXY world']],
  ['eof, v1', 'eof', V1, 'one\r\ntwo\r\n', ['one\r\n', 'two\r\n']],
  ['eof, v2', 'eof', V2, 'one\r\ntwo\r\n', ['one\r\n', 'two\r\n']],
  ['http, v1', 'http', V1, HTTP_GET, [HTTP_GET]],
];

// ---------------------------------------------------------------- http

const ok = (body: string, keepAlive: boolean) =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n${body}`;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const SWITCHING = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n';

for (const kind of KINDS) {
  describe(`${kind} level`, () => {
    for (const style of STYLES) {
      it(`eof (${style} receive): a stream cut at random points is echoed frame by frame; accepted, messages, bytes_in and bytes_out add up`, async () => {
        const inbox = new Inbox();
        let bench!: Bench;
        bench = await serve(
          kind,
          {
            receive:
              style === 'sync'
                ? (m, r) => {
                    inbox.add(m, r);
                    bench.table.send(m);
                  }
                : async (m, r) => {
                    inbox.add(m, r);
                    await tick();
                    bench.table.send(m);
                  },
          },
          { protocol: 'eof' },
        );
        // Frames of any bytes but LF (so no CRLF inside), empty ones included.
        const frameArb = fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b.map((x) => (x === 10 ? 11 : x))));
        const arb = fc.tuple(fc.array(frameArb, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 12 }));
        let runs = 0;
        let frames = 0;
        let bytes = 0;
        await fc.assert(
          fc.asyncProperty(arb, async ([bodies, cutAt]) => {
            const want = bodies.map((b) => Buffer.concat([b, CRLF]));
            const stream = Buffer.concat(want);
            const cuts = [...new Set(cutAt.map((n) => n % stream.length))].filter((n) => n > 0).sort((a, b) => a - b);
            const c = await bench.connect();
            const base = bench.table.counters.bytes_in;
            let at = 0;
            // Each piece is read before the next is written: one read (or more) each, never merged.
            for (const end of [...cuts, stream.length]) {
              await c.write(stream.subarray(at, end));
              await bench.read(base + end);
              at = end;
            }
            await c.waitBytes(stream.length);
            expect(c.data.equals(stream), 'the echo is the stream').toBe(true);
            expect(inbox.lines(bench.remoteOf(c))).toEqual(want.map((b) => b.toString('latin1')));
            c.end();
            await closedWithin(c);
            runs++;
            frames += want.length;
            bytes += stream.length;
          }),
          { numRuns: 6 },
        );
        await soon(() => bench.table.size === 0, 'every connection closed');
        expect(bench.table.counters).toEqual({
          accepted: runs,
          closed: runs,
          aborted: 0,
          refused: 0,
          messages: frames,
          bytes_in: bytes,
          bytes_out: bytes,
          errors: {},
          relayed: 0,
          relay_gone: 0,
          dropped: 0,
          handed_over: 0,
          adopted: 0,
        });
        expect(bench.closes.map((r) => r.id)).toEqual(bench.remotes.map((r) => r.id));
        expect(bench.hooks.loadChanged).toBe(2 * runs);
        expect(bench.errors).toEqual([]);
      });
    }

    describe('PROXY protocol', () => {
      for (const [name, protocol, head, data, want] of PROXIED) {
        it(`${name}: receive gets the data only, whatever the writes; accept and remote see the real client, via the balancer`, async () => {
          const inbox = new Inbox();
          const accepted: { id: string; ip: string; port: number }[] = [];
          let bench!: Bench;
          bench = await serve(
            kind,
            {
              accept: (r) => {
                accepted.push({ id: r.id, ip: r.ip, port: r.port });
              },
              receive: (m, r) => {
                inbox.add(m, r);
                bench.table.send(m);
              },
            },
            { protocol, proxy_protocol: true },
          );
          for (const [how, writes] of splits(head, Buffer.from(data, 'latin1'))) {
            const c = await bench.connect();
            const before = accepted.length;
            const base = bench.table.counters.bytes_in;
            let at = 0;
            for (const w of writes) {
              // Not announced while the header is incomplete.
              if (at < head.length) expect(accepted.length, `${how}: accept before the header is complete`).toBe(before);
              await c.write(w);
              at += w.length;
              await bench.read(base + at);
            }
            await c.waitBytes(data.length);
            const r = bench.remoteOf(c);
            const got = inbox.lines(r);
            if (protocol === 'raw') expect(got.join(''), how).toBe(want[0]);
            else expect(got, how).toEqual(want);
            expect(text(c), `${how}: the echo`).toBe(data);
            expect(accepted.slice(before), how).toEqual([{ id: r.id, ip: '1.2.3.4', port: 1111 }]);
            expect({ ip: r.ip, port: r.port, via: r.via }, how).toEqual({
              ip: '1.2.3.4',
              port: 1111,
              via: { ip: '127.0.0.1', port: c.socket.localPort },
            });
            c.end();
            await closedWithin(c);
          }
          expect(bench.errors).toEqual([]);
          expect(bench.table.counters.bytes_out).toBe(splits(head, Buffer.from(data)).length * Buffer.byteLength(data, 'latin1'));
        });
      }

      it('raw without a header: ERR_BAD_PROXY_HEADER, closed unannounced, nothing delivered', async () => {
        const inbox = new Inbox();
        let accepts = 0;
        const bench = await serve(
          kind,
          {
            accept: () => {
              accepts++;
            },
            receive: (m, r) => inbox.add(m, r),
          },
          { protocol: 'raw', proxy_protocol: true },
        );
        const c = await bench.connect();
        await c.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
        await closedWithin(c);
        await soon(() => bench.table.size === 0, 'the connection closed');
        expect(bench.errors.map((e) => [e.err.code, e.remote?.id])).toEqual([['ERR_BAD_PROXY_HEADER', bench.remotes[0].id]]);
        expect([accepts, inbox.by.size, bench.closes.length, c.data.length]).toEqual([0, 0, 0, 0]);
      });
    });

    for (const style of STYLES) {
      it(`send() and close() (${style} receive): without a target in the callback (after an await when async), with a remote or its id from a timer; false once closed`, async () => {
        const fromTimer: boolean[] = [];
        let closed: boolean | undefined;
        let bench!: Bench;
        const act = (what: string, r: Remote) => {
          const t = bench.table;
          if (what === 'hello') t.send('A:hello\r\n');
          else if (what === 'later')
            setTimeout(() => fromTimer.push(t.send('T1\r\n', r), t.send(Buffer.from('T2\r\n'), r.id)), 30);
          else if (what === 'bye') {
            t.send('B\r\n');
            closed = t.close();
          }
        };
        bench = await serve(
          kind,
          {
            receive:
              style === 'sync'
                ? (m, r) => act(line(m), r)
                : async (m, r) => {
                    await sleep(20);
                    act(line(m), r);
                  },
          },
          { protocol: 'eof' },
        );
        const c = await bench.connect();
        await c.write('hello\r\n');
        await soon(() => text(c) === 'A:hello\r\n', 'the reply to hello');
        await c.write('later\r\n');
        await soon(() => text(c) === 'A:hello\r\nT1\r\nT2\r\n', 'the replies from the timer');
        expect(fromTimer).toEqual([true, true]);
        const r = bench.remoteOf(c);
        await c.write('bye\r\n');
        await closedWithin(c);
        expect(text(c)).toBe('A:hello\r\nT1\r\nT2\r\nB\r\n');
        expect(closed).toBe(true);
        await soon(() => bench.closes.length === 1, 'the close callback');
        const t = bench.table;
        expect([t.send('x', r), t.send('x', r.id), t.close(r), t.close(r.id)]).toEqual([false, false, false, false]);
        expect(() => t.send('x')).toThrow(expect.objectContaining({ code: 'ERR_NO_CONNECTION' }));
        expect(() => t.close()).toThrow(expect.objectContaining({ code: 'ERR_NO_CONNECTION' }));
        await sleep(30);
        expect(bench.closes.map((x) => x.id)).toEqual([r.id]);
        expect(bench.errors).toEqual([]);
      });
    }

    for (const style of STYLES) {
      it(`backpressure (${style} callbacks): bufferFull stops reading; a send from a timer is refused while full; once the client reads, bufferDrain, and every reply in order`, async () => {
        const BLOCK = 65536;
        const fulls: string[] = [];
        const drains: string[] = [];
        /** The reply to request k: 64 KiB of k's low byte, k in its first 4 bytes. */
        const reply = (m: Buffer) => {
          const k = Number(line(m));
          const b = Buffer.alloc(BLOCK, k & 0xff);
          b.writeUInt32BE(k, 0);
          return b;
        };
        let bench!: Bench;
        bench = await serve(
          kind,
          style === 'sync'
            ? {
                receive: (m) => {
                  bench.table.send(reply(m));
                },
                bufferFull: (r) => {
                  fulls.push(r.id);
                },
                bufferDrain: (r) => {
                  drains.push(r.id);
                },
              }
            : {
                // Replies in the synchronous part: a send after an await is refused while full, by design.
                receive: async (m) => {
                  bench.table.send(reply(m));
                  await tick();
                },
                bufferFull: async (r) => {
                  fulls.push(r.id);
                  await tick();
                },
                bufferDrain: async (r) => {
                  drains.push(r.id);
                  await tick();
                },
              },
          { protocol: 'eof', socket_buffer_size: BLOCK },
        );
        const s = await bench.socket();
        s.pause();
        const reqs = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${from + i}\r\n`).join('');
        // About 60 replies (4 MiB) fill loopback's buffers here; the rest must wait.
        const N = 200;
        s.write(reqs(0, N));
        // Until nothing moves: the kernel's buffers are full, the table waits for a drain.
        let last = -1;
        while (bench.table.counters.messages !== last) {
          last = bench.table.counters.messages;
          await sleep(150);
        }
        const r = bench.remoteOf(s);
        expect(fulls.length, 'bufferFull').toBeGreaterThan(0);
        expect(fulls.length, 'full now').toBe(drains.length + 1);
        expect(bench.table.counters.messages, 'messages delivered while the client does not read').toBeLessThan(N);
        const readBefore = bench.table.counters.bytes_in;
        s.write(reqs(N, N + 10));
        await sleep(150);
        expect(bench.table.counters.bytes_in, 'bytes read while full').toBe(readBefore);
        const late = await new Promise<boolean>((resolve) => setTimeout(() => resolve(bench.table.send('X', r)), 0));
        expect(late, 'send from a timer while full').toBe(false);
        // The client reads.
        const chunks: Buffer[] = [];
        let got = 0;
        s.on('data', (d: Buffer) => {
          chunks.push(d);
          got += d.length;
        });
        s.resume();
        const total = (N + 10) * BLOCK;
        await soon(() => got >= total && drains.length === fulls.length, 'every reply, and the last bufferDrain', 10_000);
        await sleep(50);
        const all = Buffer.concat(chunks);
        expect(all.length).toBe(total);
        let wrong = -1;
        for (let k = 0; k < N + 10 && wrong < 0; k++) {
          const b = all.subarray(k * BLOCK, (k + 1) * BLOCK);
          if (b.readUInt32BE(0) !== k || b[4] !== (k & 0xff) || b[BLOCK - 1] !== (k & 0xff)) wrong = k;
        }
        expect(wrong, 'the first reply out of place').toBe(-1);
        expect(fulls.every((id) => id === r.id) && drains.every((id) => id === r.id)).toBe(true);
        expect(bench.table.counters.messages).toBe(N + 10);
        expect(bench.table.counters.bytes_out, 'bytes_out counts what was sent').toBe(total);
        expect(bench.errors).toEqual([]);
      });
    }

    it("backpressure, replies after an await: an async receive's own reply is taken while full (it answers a message already delivered); every reply arrives in order", async () => {
      const BLOCK = 65536;
      const results: boolean[] = [];
      let fulls = 0;
      let bench!: Bench;
      bench = await serve(
        kind,
        {
          bufferFull: () => {
            fulls++;
          },
          receive: async (m) => {
            await tick();
            const k = Number(line(m));
            const b = Buffer.alloc(BLOCK, k & 0xff);
            b.writeUInt32BE(k, 0);
            results.push(bench.table.send(b));
          },
        },
        { protocol: 'eof', socket_buffer_size: BLOCK },
      );
      const s = await bench.socket();
      s.pause();
      const N = 120;
      s.write(Array.from({ length: N }, (_, i) => `${i}\r\n`).join(''));
      let last = -1;
      while (bench.table.counters.messages !== last) {
        last = bench.table.counters.messages;
        await sleep(150);
      }
      // The queue is full while the client does not read, and still every reply was taken.
      expect(fulls).toBeGreaterThan(0);
      expect(results.length).toBe(bench.table.counters.messages);
      const chunks: Buffer[] = [];
      let got = 0;
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
      });
      s.resume();
      await soon(() => got >= N * BLOCK, 'every reply', 10_000);
      expect(results.length).toBe(N);
      expect(results.every((ok) => ok)).toBe(true);
      const all = Buffer.concat(chunks);
      for (let k = 0; k < N; k++) expect(all.readUInt32BE(k * BLOCK)).toBe(k);
      expect(bench.errors).toEqual([]);
    });

    for (const style of ['sync', 'promise', 'async'] as const) {
      it(`half-close (${style} receive): a request then FIN; the reply 150 ms later arrives, then the server closes; close runs once`, async () => {
        let bench!: Bench;
        const receive = {
          sync: (m: Buffer) => {
            busy(150);
            bench.table.send(`re:${line(m)}\r\n`);
          },
          promise: (m: Buffer, r: Remote) =>
            new Promise<void>((resolve) =>
              setTimeout(() => {
                bench.table.send(`re:${line(m)}\r\n`, r);
                resolve();
              }, 150),
            ),
          async: async (m: Buffer) => {
            await sleep(150);
            bench.table.send(`re:${line(m)}\r\n`);
          },
        }[style];
        bench = await serve(kind, { receive }, { protocol: 'eof' });
        const c = await bench.connect();
        const t0 = Date.now();
        await c.write('req\r\n');
        c.end();
        await closedWithin(c);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
        expect(text(c)).toBe('re:req\r\n');
        await soon(() => bench.table.size === 0, 'the connection closed');
        await sleep(30);
        expect(bench.closes.map((r) => r.id)).toEqual([bench.remotes[0].id]);
        expect(bench.table.counters).toMatchObject({ closed: 1, aborted: 0, messages: 1 });
        expect(bench.errors).toEqual([]);
      });
    }

    for (const style of STYLES) {
      const fails = style === 'sync' ? 'throws' : 'rejects';
      it(`receive ${fails}: ERR_CALLBACK (event receive) for that connection only, closed after the reply already due; another keeps working`, async () => {
        let bench!: Bench;
        const act = (m: Buffer) => {
          if (line(m) === 'boom') {
            bench.table.send('last words\r\n');
            throw new Error('boom');
          }
          bench.table.send(m);
        };
        bench = await serve(
          kind,
          {
            receive:
              style === 'sync'
                ? (m) => act(m)
                : async (m) => {
                    await tick();
                    act(m);
                  },
          },
          { protocol: 'eof' },
        );
        const good = await bench.connect();
        await good.write('before\r\n');
        await soon(() => text(good) === 'before\r\n', 'the echo before');
        const bad = await bench.connect();
        await bad.write('boom\r\n');
        await closedWithin(bad);
        expect(text(bad)).toBe('last words\r\n');
        const badId = bench.remoteOf(bad).id;
        expect(bench.errors.map((e) => [e.err.code, (e.err as CallbackError).event, e.remote?.id])).toEqual([
          ['ERR_CALLBACK', 'receive', badId],
        ]);
        expect(((bench.errors[0].err as CallbackError).cause as Error).message).toBe('boom');
        await good.write('after\r\n');
        await soon(() => text(good) === 'before\r\nafter\r\n', 'the echo after');
        expect(good.closed).toBe(false);
        await soon(() => bench.closes.length === 1, 'the close callback');
        expect(bench.closes[0].id).toBe(badId);
        expect(bench.table.counters.errors).toEqual({ ERR_CALLBACK: 1 });
        expect(bench.table.size).toBe(1);
      });

      it(`accept ${fails}: ERR_CALLBACK (event accept), that connection closed, its close runs once; the others are served`, async () => {
        let n = 0;
        let bench!: Bench;
        const act = () => {
          if (++n === 2) throw new Error('no thanks');
        };
        bench = await serve(
          kind,
          {
            accept:
              style === 'sync'
                ? () => act()
                : async () => {
                    await tick();
                    act();
                  },
            receive: (m) => {
              bench.table.send(m);
            },
          },
          { protocol: 'eof' },
        );
        const first = await bench.connect();
        await soon(() => n === 1, 'the first accept');
        const second = await bench.connect();
        await closedWithin(second);
        const third = await bench.connect();
        for (const c of [first, third]) {
          await c.write('hi\r\n');
          await soon(() => text(c) === 'hi\r\n', 'an echo');
        }
        const id = bench.remoteOf(second).id;
        expect(bench.errors.map((e) => [e.err.code, (e.err as CallbackError).event, e.remote?.id])).toEqual([
          ['ERR_CALLBACK', 'accept', id],
        ]);
        await sleep(30);
        expect(bench.closes.map((r) => r.id)).toEqual([id]);
        expect(bench.table.size).toBe(2);
      });
    }

    for (const style of STYLES) {
      for (const [how, writes] of [
        ['in one read', [140]],
        ['over three reads', [10, 30, 100]],
      ] as const) {
        it(`eof over package_max_length ${how} (${style} receive): ERR_FRAME_TOO_LARGE with reason and the offset in the connection; the frames before it answered`, async () => {
          const inbox = new Inbox();
          let bench!: Bench;
          bench = await serve(
            kind,
            {
              receive:
                style === 'sync'
                  ? (m, r) => {
                      inbox.add(m, r);
                      bench.table.send(m);
                    }
                  : async (m, r) => {
                      inbox.add(m, r);
                      await sleep(30);
                      bench.table.send(m);
                    },
            },
            { protocol: 'eof', package_max_length: 64 },
          );
          const input = Buffer.from('ok1\r\nok2\r\n' + 'x'.repeat(30) + 'y'.repeat(100));
          const c = await bench.connect();
          let at = 0;
          for (const n of writes) {
            await c.write(input.subarray(at, at + n));
            at += n;
            if (at < input.length) await bench.read(at);
          }
          await closedWithin(c);
          expect(text(c)).toBe('ok1\r\nok2\r\n');
          const r = bench.remotes[0];
          expect(inbox.lines(r)).toEqual(['ok1\r\n', 'ok2\r\n']);
          expect(bench.errors).toHaveLength(1);
          const { err, remote } = bench.errors[0];
          // The frame begins at byte 10; the 65th byte of it (10 + 64) is the first past the limit.
          const { reason, offset } = err as FramingError;
          expect({ code: err.code, reason, offset }).toEqual({
            code: 'ERR_FRAME_TOO_LARGE',
            reason: 'no package_eof delimiter within package_max_length',
            offset: 74,
          });
          expect(remote?.id).toBe(r.id);
          await soon(() => bench.closes.length === 1, 'the close callback');
          expect(bench.table.counters.errors).toEqual({ ERR_FRAME_TOO_LARGE: 1 });
        });
      }
    }

    describe('the drain', () => {
      for (const style of STYLES) {
        it(`http (${style} receive): idle connections closed once quiet, a fresh one waits for its first request, a request during the drain gets keepAlive false and its connection closes after the reply; drained once`, async () => {
          const seen: [string, string, boolean | undefined][] = [];
          let bench!: Bench;
          const answer = (m: Buffer, r: Remote, keepAlive: boolean | undefined) => {
            const path = m.toString('latin1').split(' ')[1];
            seen.push([r.id, path, keepAlive]);
            bench.table.send(ok(path, keepAlive !== false));
          };
          bench = await serve(
            kind,
            {
              receive:
                style === 'sync'
                  ? (m, r) => answer(m, r, r.keepAlive)
                  : async (m, r) => {
                      const keepAlive = r.keepAlive; // read before the first await
                      await tick();
                      answer(m, r, keepAlive);
                    },
            },
            { protocol: 'http' },
          );
          const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`;
          const idle = await bench.connect();
          const busyC = await bench.connect();
          const fresh = await bench.connect();
          const idleAt = Date.now();
          await idle.write(get('/i1'));
          await busyC.write(get('/b1'));
          await soon(() => text(idle) === ok('/i1', true) && text(busyC) === ok('/b1', true), 'the replies before the drain');
          const t0 = Date.now();
          bench.table.drain(t0 + 3000, t0 + 4000);
          expect(bench.table.draining).toBe(true);
          await busyC.write(get('/b2'));
          await closedWithin(busyC);
          expect(text(busyC)).toBe(ok('/b1', true) + ok('/b2', false));
          await closedWithin(idle, 1000);
          const idleClosed = Date.now();
          expect(idleClosed - idleAt, 'quiet for 100 ms before closed').toBeGreaterThanOrEqual(100);
          await sleep(Math.max(0, t0 + 300 - Date.now()));
          expect(fresh.closed, 'a fresh connection at 300 ms').toBe(false);
          await fresh.write(get('/f1'));
          await closedWithin(fresh);
          expect(text(fresh)).toBe(ok('/f1', false));
          await soon(() => bench.table.size === 0, 'every connection closed');
          const r = (c: Client) => bench.remoteOf(c).id;
          expect(seen).toEqual([
            [r(idle), '/i1', true],
            [r(busyC), '/b1', true],
            [r(busyC), '/b2', false],
            [r(fresh), '/f1', false],
          ]);
          await soon(() => bench.hooks.drained === 1, 'drained');
          await sleep(50);
          expect(bench.hooks.drained).toBe(1);
          expect(bench.closes).toHaveLength(3);
          expect(bench.table.counters).toMatchObject({ closed: 3, aborted: 0 });
        });
      }

      for (const style of ['promise', 'async'] as const) {
        it(`eof (${style} receive): served until the deadline, then not read; closed after its in-flight reply; drained`, async () => {
          const inbox = new Inbox();
          let bench!: Bench;
          // A plain receive that returns a promise (replies by remote), or an `async function` (replies without a target).
          const receive = {
            promise: (m: Buffer, r: Remote) => {
              inbox.add(m, r);
              if (line(m) !== 'slow') return void bench.table.send(m);
              return new Promise<void>((resolve) =>
                setTimeout(() => {
                  bench.table.send('slow:done\r\n', r);
                  resolve();
                }, 300),
              );
            },
            async: async (m: Buffer, r: Remote) => {
              inbox.add(m, r);
              if (line(m) !== 'slow') return void bench.table.send(m);
              await sleep(300);
              bench.table.send('slow:done\r\n');
            },
          }[style];
          bench = await serve(kind, { receive }, { protocol: 'eof' });
          const c = await bench.connect();
          const t0 = Date.now();
          bench.table.drain(t0 + 400, t0 + 3000);
          await sleep(100);
          await c.write('a\r\n');
          await soon(() => text(c) === 'a\r\n', 'an echo during the drain');
          await sleep(Math.max(0, t0 + 250 - Date.now()));
          await c.write('slow\r\n');
          await sleep(Math.max(0, t0 + 380 - Date.now()));
          expect(c.closed, 'open before the deadline').toBe(false);
          await sleep(Math.max(0, t0 + 450 - Date.now()));
          await c.write('late\r\n');
          await sleep(Math.max(0, t0 + 490 - Date.now()));
          // Past the deadline, before the slow reply (at 550 ms or later): not read at all.
          expect(bench.table.counters.bytes_in, 'bytes read past the deadline').toBe('a\r\nslow\r\n'.length);
          await closedWithin(c);
          expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
          expect(text(c)).toBe('a\r\nslow:done\r\n');
          const r = bench.remotes[0];
          expect(inbox.lines(r)).toEqual(['a\r\n', 'slow\r\n']);
          await soon(() => bench.hooks.drained === 1, 'drained');
          expect(bench.closes.map((x) => x.id)).toEqual([r.id]);
          expect(bench.errors).toEqual([]);
        });
      }
    });

    it('the heartbeat closes an idle connection and a slowloris, not a busy one', async () => {
      let bench!: Bench;
      bench = await serve(
        kind,
        {
          receive: (m) => {
            bench.table.send(m);
          },
        },
        { protocol: 'eof' },
      );
      bench.table.heartbeat(300);
      const t0 = Date.now();
      const idle = await bench.connect();
      const slow = await bench.connect();
      const busyC = await bench.connect();
      let lastTrickle = 0;
      let pings = 0;
      const trickle = setInterval(() => {
        if (slow.closed) return;
        lastTrickle = Date.now();
        slow.socket.write('a');
      }, 40);
      const ping = setInterval(() => {
        pings++;
        busyC.socket.write('ping\r\n');
      }, 60);
      try {
        await closedWithin(idle, 2000);
        expect(Date.now() - t0, 'idle for 300 ms').toBeGreaterThanOrEqual(300);
        await closedWithin(slow, 2000);
        const slowClosed = Date.now();
        expect(slowClosed - t0).toBeGreaterThanOrEqual(300);
        expect(slowClosed - lastTrickle, 'the slowloris was sending').toBeLessThan(300);
        await sleep(Math.max(0, t0 + 900 - Date.now()));
        expect(busyC.closed, 'a busy connection').toBe(false);
      } finally {
        clearInterval(trickle);
        clearInterval(ping);
      }
      await soon(() => text(busyC) === 'ping\r\n'.repeat(pings), 'every ping echoed');
      await soon(() => bench.closes.length === 2, 'two close callbacks');
      const ids = [idle, slow].map((c) => bench.remoteOf(c).id);
      expect(bench.closes.map((r) => r.id).sort()).toEqual(ids.sort());
      expect(bench.table.size).toBe(1);
    });

    it('input_buffer_limit: past it, the biggest holder of unfinished input gets ERR_INPUT_LIMIT, not the one that crossed it; the others complete', async () => {
      const KiB = 1024;
      let bench!: Bench;
      bench = await serve(
        kind,
        {
          receive: (m) => {
            bench.table.send(`${m.length}\r\n`);
          },
        },
        { protocol: 'eof', package_max_length: 8 * 1024 * KiB, input_buffer_limit: 2048 * KiB },
      );
      const sizes = [1024 * KiB, 300 * KiB, 50 * KiB, 900 * KiB];
      const clients: Client[] = [];
      let sent = 0;
      for (const n of sizes) {
        const c = await bench.connect();
        clients.push(c);
        await c.write(Buffer.alloc(n, 'z'));
        sent += n;
        if (clients.length < sizes.length) {
          await bench.read(sent);
          expect(bench.errors, 'under the limit').toEqual([]);
        }
      }
      await soon(() => bench.errors.length > 0, 'ERR_INPUT_LIMIT');
      const [biggest, ...rest] = clients;
      await closedWithin(biggest);
      const { err, remote } = bench.errors[0];
      expect(err.code).toBe('ERR_INPUT_LIMIT');
      expect(remote?.id).toBe(bench.remoteOf(biggest).id);
      expect((err as InputLimitError).held).toBeGreaterThanOrEqual(1024 * KiB);
      for (const [i, c] of rest.entries()) {
        await c.write('\r\n');
        await soon(() => text(c) === `${sizes[i + 1] + 2}\r\n`, `the frame of ${sizes[i + 1]} bytes`);
      }
      expect(bench.errors).toHaveLength(1);
      expect(bench.table.size).toBe(3);
    });

    describe('http', () => {
      for (const style of STYLES) {
        const handlers = (bench: () => Bench, seen: [string, boolean | undefined, boolean | undefined][]) => {
          const answer = (m: Buffer, keepAlive: boolean | undefined, upgraded: boolean | undefined) => {
            const s = m.toString('latin1');
            seen.push([s, keepAlive, upgraded]);
            if (upgraded) bench().table.send(m);
            else if (s.startsWith('GET /up ')) bench().table.send(SWITCHING);
            else bench().table.send(ok(s.split(' ')[1], keepAlive !== false));
          };
          return style === 'sync'
            ? { receive: (m: Buffer, r: Remote) => answer(m, r.keepAlive, r.upgraded) }
            : {
                receive: async (m: Buffer, r: Remote) => {
                  const { keepAlive, upgraded } = r;
                  await tick();
                  answer(m, keepAlive, upgraded);
                },
              };
        };

        it(`Expect: 100-continue is answered before the body is sent (${style} receive)`, async () => {
          const seen: [string, boolean | undefined, boolean | undefined][] = [];
          let bench!: Bench;
          bench = await serve(
            kind,
            handlers(() => bench, seen),
            { protocol: 'http' },
          );
          const c = await bench.connect();
          const head = 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n';
          await c.write(head);
          await soon(() => text(c) === CONTINUE, '100 Continue');
          await c.write('hello');
          await soon(() => text(c) === CONTINUE + ok('/up', true), 'the reply');
          expect(seen).toEqual([[head + 'hello', true, undefined]]);
        });

        it(`a malformed request after a good one: the good one answered, then 400 with Connection: close, ERR_BAD_HTTP (${style} receive)`, async () => {
          const seen: [string, boolean | undefined, boolean | undefined][] = [];
          let bench!: Bench;
          bench = await serve(
            kind,
            handlers(() => bench, seen),
            { protocol: 'http' },
          );
          const c = await bench.connect();
          const good = 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n';
          const bad = 'GET /b HTTP/1.1\nHost: h\r\n\r\n';
          await c.write(good + bad);
          await closedWithin(c);
          expect(text(c)).toBe(ok('/a', true) + BAD_REQUEST);
          expect(seen.map((s) => s[0])).toEqual([good]);
          expect(bench.errors).toHaveLength(1);
          const err = bench.errors[0].err as FramingError;
          expect([err.code, err.reason, err.offset]).toEqual(['ERR_BAD_HTTP', 'LF without CR', good.length + bad.indexOf('\n')]);
        });

        it(`Connection: close: answered, then closed without close(); what follows is not delivered (${style} receive)`, async () => {
          const seen: [string, boolean | undefined, boolean | undefined][] = [];
          let bench!: Bench;
          bench = await serve(
            kind,
            handlers(() => bench, seen),
            { protocol: 'http' },
          );
          const c = await bench.connect();
          const last = 'GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n';
          await c.write(last + 'GET /d HTTP/1.1\r\nHost: h\r\n\r\n');
          await closedWithin(c);
          expect(text(c)).toBe(ok('/c', false));
          expect(seen).toEqual([[last, false, undefined]]);
          expect(bench.errors).toEqual([]);
        });

        it(`an upgrade, then raw bytes with remote.upgraded (${style} receive)`, async () => {
          const seen: [string, boolean | undefined, boolean | undefined][] = [];
          let bench!: Bench;
          bench = await serve(
            kind,
            handlers(() => bench, seen),
            { protocol: 'http' },
          );
          const c = await bench.connect();
          const up = 'GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n';
          await c.write(up);
          await soon(() => text(c) === SWITCHING, '101');
          const raw = '\x81\x02\x00\xffGET / HTTP/1.1\n\n';
          await c.write(Buffer.from(raw, 'latin1'));
          await soon(() => text(c) === SWITCHING + raw, 'the raw echo');
          expect(seen[0]).toEqual([up, true, undefined]);
          expect(
            seen
              .slice(1)
              .map((s) => s[0])
              .join(''),
          ).toBe(raw);
          expect(seen.slice(1).every((s) => s[2] === true)).toBe(true);
          expect(bench.errors).toEqual([]);
        });
      }
    });

    for (const style of ['promise', 'async'] as const) {
      it(`a peer reset (${style} receive in flight): counted as aborted, close runs once, the late send returns false`, async () => {
        const late: boolean[] = [];
        let bench!: Bench;
        const receive = {
          promise: (m: Buffer, r: Remote) => {
            if (line(m) !== 'slow') return void bench.table.send(m);
            return new Promise<void>((resolve) =>
              setTimeout(() => {
                late.push(bench.table.send('late\r\n', r));
                resolve();
              }, 100),
            );
          },
          async: async (m: Buffer) => {
            if (line(m) !== 'slow') return void bench.table.send(m);
            await sleep(100);
            late.push(bench.table.send('late\r\n'));
          },
        }[style];
        bench = await serve(kind, { receive }, { protocol: 'eof' });
        const c = await bench.connect();
        await c.write('x\r\n');
        await soon(() => text(c) === 'x\r\n', 'the echo');
        await c.write('slow\r\n');
        await bench.read(9);
        c.socket.resetAndDestroy();
        await soon(() => bench.table.size === 0, 'the connection closed');
        await soon(() => late.length === 1, 'the late send');
        expect(late).toEqual([false]);
        await sleep(30);
        expect(bench.closes.map((r) => r.id)).toEqual([bench.remotes[0].id]);
        expect(bench.table.counters).toMatchObject({ accepted: 1, aborted: 1, closed: 0 });
        expect(bench.errors).toEqual([]);
      });
    }
  });
}
