// Callbacks that return promises, through real processes and sockets. A
// rejection costs its connection only, as a throw does; send() without a
// target still finds its connection after an await; and until a callback's
// promise settles its connection has work in flight, which a stop, a reload,
// a max_request recycle and a peer's half-close all wait for. Every promise is
// tested twice: with synchronous handlers and with async ones (fixture `async`).
import { afterEach, describe, expect, it } from 'vitest';
import { Client, cleanup, servedBy, sleep, startFixture, type Event, type Proc } from './helpers/proc.js';

afterEach(cleanup);

const remoteOf = (e: Event) => e.remote as { port: number; id: string } | undefined;

/** Writes an eof line and expects exactly its echo on top of what the client already holds. */
async function echoes(c: Client, line: string): Promise<void> {
  const before = c.data.length;
  await c.write(`${line}\r\n`);
  await c.waitBytes(before + line.length + 2);
  expect(c.data.subarray(before).toString()).toBe(`${line}\r\n`);
  expect([c.closed, c.error]).toEqual([false, null]);
}

/** The client's close, or a timeout; the client must be closed by then. */
async function closedWithin(c: Client, ms: number): Promise<void> {
  await Promise.race([c.done, sleep(ms)]);
  expect(c.closed, 'connection closed by the server').toBe(true);
}

const exitsOf = (proc: Proc) => proc.events.filter((e) => e.ev === 'workerExit');

for (const async of [false, true]) {
  const style = async ? 'async' : 'sync';
  const fails = async ? 'rejects' : 'throws';

  describe(`${style} handlers: a failing callback costs its connection only`, () => {
    it(`receive ${fails}: ERR_CALLBACK (event receive), that connection closed; the same worker keeps serving an open connection and a new one`, async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 1, protocol: 'eof' },
        mode: 'throw',
        addressed: true,
        async,
      });
      const good = await Client.open(port);
      await echoes(good, 'before');
      const bad = await Client.open(port);
      const badPort = bad.socket.localPort!;
      expect(await servedBy(proc, badPort)).toBe(workers[0]);
      await bad.write('boom\r\n');
      await closedWithin(bad, 5000);
      expect(bad.data.length).toBe(0);
      const err = await proc.waitEv('error', 3000, (e) => e.code === 'ERR_CALLBACK');
      expect(err).toMatchObject({ pid: workers[0], event: 'receive' });
      expect(remoteOf(err)!.port).toBe(badPort);
      await proc.waitEv('close', 3000, (e) => remoteOf(e)!.port === badPort);
      await echoes(good, 'still');
      const fresh = await Client.open(port);
      await echoes(fresh, 'fresh');
      expect(await servedBy(proc, fresh.socket.localPort!)).toBe(workers[0]);
      expect(exitsOf(proc)).toEqual([]);
      expect(proc.events.filter((e) => e.ev === 'error')).toHaveLength(1);
    });

    it(`accept ${fails}: ERR_CALLBACK (event accept), that connection closed; the same worker keeps serving an open connection and a new one`, async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 1, protocol: 'eof' },
        acceptThrowNth: 2,
        addressed: true,
        async,
      });
      const good = await Client.open(port);
      await echoes(good, 'before');
      const bad = await Client.open(port); // the worker's second connection
      const badPort = bad.socket.localPort!;
      await closedWithin(bad, 5000);
      const err = await proc.waitEv('error', 3000, (e) => e.code === 'ERR_CALLBACK');
      expect(err).toMatchObject({ pid: workers[0], event: 'accept' });
      expect(remoteOf(err)!.port).toBe(badPort);
      await echoes(good, 'still');
      const fresh = await Client.open(port);
      await echoes(fresh, 'fresh');
      expect(await servedBy(proc, fresh.socket.localPort!)).toBe(workers[0]);
      expect(exitsOf(proc)).toEqual([]);
      expect(proc.events.filter((e) => e.ev === 'error')).toHaveLength(1);
    });

    it(`close ${fails}: ERR_CALLBACK (event close); the worker lives and serves on`, async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 1, protocol: 'eof' },
        closeThrow: true,
        addressed: true,
        async,
      });
      const other = await Client.open(port);
      await echoes(other, 'other');
      const c = await Client.open(port);
      const cPort = c.socket.localPort!;
      await echoes(c, 'bye');
      c.end();
      await closedWithin(c, 5000);
      const err = await proc.waitEv('error', 3000, (e) => e.code === 'ERR_CALLBACK');
      expect(err).toMatchObject({ pid: workers[0], event: 'close' });
      expect(remoteOf(err)!.port).toBe(cPort);
      await echoes(other, 'still');
      const fresh = await Client.open(port);
      await echoes(fresh, 'fresh');
      expect(await servedBy(proc, fresh.socket.localPort!)).toBe(workers[0]);
      expect(exitsOf(proc)).toEqual([]);
    });
  });

  describe(`${style} handlers: send() finds its connection`, () => {
    for (const [addressed, how] of [
      [false, 'send(message) without a target'],
      [true, 'send(message, remote)'],
    ] as const) {
      it(`${how} after the callback's wait reaches the right connection while 6 connections interleave`, async () => {
        const { proc, port } = await startFixture({
          settings: { process_number: 1, protocol: 'eof' },
          addressed,
          async,
          awaitJitterMs: async ? 20 : 3,
          greet: addressed ? undefined : 'hi\r\n', // accept greets without a target, after its await
        });
        const clients = await Promise.all(Array.from({ length: 6 }, () => Client.open(port)));
        if (!addressed) for (const c of clients) expect((await c.waitBytes(4)).toString()).toBe('hi\r\n');
        await Promise.all(
          clients.map(async (c, k) => {
            for (let i = 0; i < 10; i++) await echoes(c, `c${k}-m${i}`);
          }),
        );
        // Pipelined: several callbacks of one connection pending at once, all answered.
        const burst = Array.from({ length: 5 }, (_, i) => `p${i}\r\n`);
        const c = clients[0];
        const held = c.data.length;
        await c.write(burst.join(''));
        await c.waitBytes(held + burst.join('').length);
        expect(
          c.data
            .subarray(held)
            .toString()
            .split(/(?<=\r\n)/)
            .sort(),
        ).toEqual(burst.sort());
        expect(proc.events.filter((e) => e.ev === 'error')).toEqual([]);
        expect(exitsOf(proc)).toEqual([]);
      });
    }
  });

  describe(`${style} handlers: a pending callback is work in flight`, () => {
    for (const ms of [150, 600]) {
      // An eof connection may be kept until max_wait_time: keep it short, with room for the reply.
      const waitSec = ms < 500 ? 1 : 1.5;
      it(`SIGTERM to the master: a reply sent ${ms} ms after the message arrives, then the connection is closed; exit 0`, async () => {
        const { proc, port, workers } = await startFixture({
          settings: { process_number: 1, protocol: 'eof', max_wait_time: waitSec },
          async,
          awaitMs: ms,
          addressed: true,
          logReceive: true,
        });
        const c = await Client.open(port);
        await c.write('req\r\n');
        await proc.waitEv('receive'); // the callback has begun
        proc.kill('SIGTERM');
        await c.waitBytes(5, 5000);
        expect(c.data.toString()).toBe('req\r\n');
        await closedWithin(c, waitSec * 1000 + 2000);
        expect(c.error).toBe(null);
        expect(await proc.exited).toEqual({ code: 0, signal: null });
        expect(exitsOf(proc).map((e) => [e.pid, e.code, e.signal])).toEqual([[workers[0], 0, null]]);
      });

      it(`SIGUSR1 reload: a reply sent ${ms} ms after a message the old worker read while draining, then the connection is closed`, async () => {
        const { proc, port, workers } = await startFixture({
          settings: { process_number: 1, protocol: 'eof', max_wait_time: waitSec },
          async,
          awaitMs: ms,
          addressed: true,
          logReceive: true,
        });
        const old = workers[0];
        const c = await Client.open(port);
        expect(await servedBy(proc, c.socket.localPort!)).toBe(old);
        proc.kill('SIGUSR1');
        // The replacement listens: the old worker is being told to stop now.
        const fresh = await proc.waitEv('workerStart', 10_000, (e) => e.pid !== old);
        await c.write('req\r\n');
        await proc.waitEv('receive', 5000, (e) => e.pid === old);
        await c.waitBytes(5, 5000);
        expect(c.data.toString()).toBe('req\r\n');
        await closedWithin(c, waitSec * 1000 + 2000);
        expect(c.error).toBe(null);
        const exit = await proc.waitEv('workerExit', 5000, (e) => e.pid === old);
        expect(exit).toMatchObject({ code: 0, signal: null });
        // The new worker serves.
        const next = await Client.open(port);
        await echoes(next, 'next');
        expect(await servedBy(proc, next.socket.localPort!)).toBe(fresh.pid);
      });

      it(`max_request recycle: the replies sent ${ms} ms after each message arrive, then the connection is closed`, async () => {
        // max_request 1: the worker retires after its first or second message (random grace); both are in one read.
        const { proc, port, workers } = await startFixture({
          settings: { process_number: 1, protocol: 'eof', max_request: 1, max_wait_time: waitSec },
          async,
          awaitMs: ms,
          addressed: true,
          logReceive: true,
        });
        const old = workers[0];
        const c = await Client.open(port);
        expect(await servedBy(proc, c.socket.localPort!)).toBe(old);
        await c.write('req0\r\nreq1\r\n'); // both read before the recycle begins
        await c.waitBytes(12, 5000);
        expect(c.data.toString()).toBe('req0\r\nreq1\r\n');
        await closedWithin(c, waitSec * 1000 + 2000);
        expect(c.error).toBe(null);
        const exit = await proc.waitEv('workerExit', 5000, (e) => e.pid === old);
        expect(exit).toMatchObject({ code: 0, signal: null });
        expect(proc.events.filter((e) => e.ev === 'receive' && e.pid === old)).toHaveLength(2);
      });

      it(`a client that half-closes after its request gets the reply sent ${ms} ms later, then the server closes`, async () => {
        const { proc, port } = await startFixture({
          settings: { process_number: 1, protocol: 'eof' },
          async,
          awaitMs: ms,
          addressed: true,
          logReceive: true,
        });
        const c = await Client.open(port);
        await c.write('req\r\n');
        c.end(); // FIN right behind the request
        await closedWithin(c, 5000);
        expect(c.data.toString()).toBe('req\r\n');
        expect(c.error).toBe(null);
        await proc.waitEv('close', 3000);
        expect(exitsOf(proc)).toEqual([]);
      });
    }

    it('a callback that never completes: a stop closes its connection at max_wait_time and the worker still exits 0', async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 1, protocol: 'eof', max_wait_time: 1 },
        mode: 'hang',
        async,
        logReceive: true,
      });
      const c = await Client.open(port);
      await c.write('req\r\n');
      await proc.waitEv('receive');
      const t0 = Date.now();
      proc.kill('SIGTERM');
      await closedWithin(c, 4000);
      const closedAfter = Date.now() - t0;
      expect(await proc.exited).toEqual({ code: 0, signal: null });
      const stoppedAfter = Date.now() - t0;
      expect(c.data.length).toBe(0);
      // The worker left on its own, not by the master's SIGKILL.
      expect(exitsOf(proc).map((e) => [e.pid, e.code, e.signal])).toEqual([[workers[0], 0, null]]);
      expect(stoppedAfter).toBeLessThan(1000 + 1500);
      // A pending promise is work in flight: not closed as "quiet" long before the deadline.
      if (async) expect(closedAfter, 'closed while its callback was pending').toBeGreaterThanOrEqual(500);
    });

    it('workerStop: the worker exits only after it returns; an event written after its 100 ms wait precedes the workerExit', async () => {
      const { proc, workers } = await startFixture({ settings: { process_number: 1 }, async, stopAwaitMs: 100 });
      proc.kill('SIGTERM');
      expect(await proc.exited).toEqual({ code: 0, signal: null });
      const w = workers[0];
      const at = (ev: string) => proc.events.findIndex((e) => e.ev === ev && e.pid === w);
      const exitAt = proc.events.findIndex((e) => e.ev === 'workerExit' && e.pid === w);
      expect(at('workerStop')).toBeGreaterThanOrEqual(0);
      expect(at('workerStopped'), 'workerStop finished its work').toBeGreaterThan(at('workerStop'));
      expect(exitAt).toBeGreaterThan(at('workerStopped'));
      const took = (proc.events[at('workerStopped')].t as number) - (proc.events[at('workerStop')].t as number);
      expect(took).toBeGreaterThanOrEqual(95);
      expect(proc.events[exitAt]).toMatchObject({ code: 0, signal: null });
    });
  });
}
