// How connections end: after the peer's FIN, during a reload or a max_request
// recycle (a worker never reads a message it will not answer), and when a
// terminal or systemd signals the whole process group. Real processes, real
// sockets on loopback, real signals; each promise with synchronous and with
// async handlers (fixture `async`).
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Client, alive, cleanup, descendants, sleep, startFixture, until, type Event, type Proc } from './helpers/proc.js';

afterEach(cleanup);

const remoteOf = (e: Event) => e.remote as { port: number; id: string };
const exitsOf = (proc: Proc) => proc.events.filter((e) => e.ev === 'workerExit');
const text = (e: Event) => Buffer.from(e.data as string, 'base64').toString('latin1');

interface Totals {
  connections: number;
  accepted: number;
  closed: number;
  aborted: number;
}

/** server.stats() in the master, asked with SIGUSR2 (fixture option statsOnSignal). */
async function statsNow(proc: Proc): Promise<Totals> {
  const seen = proc.count('stats');
  proc.kill('SIGUSR2');
  expect(await until(() => proc.count('stats') > seen, 5000, 1)).toBe(true);
  return (proc.events.filter((e) => e.ev === 'stats').at(-1)!.stats as { total: Totals }).total;
}

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

/** Tallies of looping clients: which message was answered on which connection (by the client's local port). */
interface Tally {
  replied: Map<string, number>;
  ok: number;
  /** Requests whose connection closed before their reply; the client retried them on a new connection. */
  retried: number;
  /** Fresh connections closed before any reply: a failed request. */
  lost: number;
  bad: string[];
  connections: number;
  lastOk: Map<string, number>;
}
const tally = (): Tally => ({ replied: new Map(), ok: 0, retried: 0, lost: 0, bad: [], connections: 0, lastOk: new Map() });

/** A socket whose reads and close can be awaited. */
function watched(port: number) {
  const s = net.connect(port, '127.0.0.1');
  const st = { s, buf: '', closed: false, wake: null as (() => void) | null };
  s.on('data', (d: Buffer) => {
    st.buf += d.toString('latin1');
    st.wake?.();
  });
  s.on('error', () => {
    /* a reset shows as the close that follows */
  });
  s.on('close', () => {
    st.closed = true;
    st.wake?.();
  });
  return {
    st,
    /** Resolves at the next read or close. */
    next: () =>
      new Promise<void>((r) => {
        st.wake = r;
      }),
    connected: () =>
      new Promise<boolean>((r) => {
        s.once('connect', () => r(true));
        s.once('close', () => r(false));
      }),
  };
}

/**
 * An eof client that sends one line at a time, waits for its echo, pauses,
 * and again; when its connection closes it reconnects and resends the line
 * that was not answered.
 */
async function eofLoop(port: number, tag: string, more: () => boolean, t: Tally, pauseMs: number): Promise<void> {
  let i = 0;
  while (more()) {
    const { st, next, connected } = watched(port);
    if (!(await connected())) {
      t.lost++;
      continue;
    }
    t.connections++;
    const local = st.s.localPort!;
    while (more() && !st.closed) {
      const line = `${tag}-${i}\r\n`;
      st.s.write(line);
      while (st.buf.length < line.length && !st.closed) await next();
      if (st.buf.length < line.length) {
        t.retried++; // the server may close an eof connection whose last line it did not read
        break;
      }
      const got = st.buf.slice(0, line.length);
      st.buf = st.buf.slice(line.length);
      if (got !== line) {
        t.bad.push(`${JSON.stringify(got)} for ${JSON.stringify(line)}`);
        break;
      }
      t.replied.set(line.slice(0, -2), local);
      t.ok++;
      t.lastOk.set(tag, Date.now());
      i++;
      await sleep(pauseMs);
    }
    st.s.destroy();
  }
}

/**
 * A keep-alive HTTP/1.1 client, one request at a time with a pause between:
 * it reconnects after Connection: close, and, as HTTP clients do, retries a
 * request on a new connection when a reused connection closes before any byte
 * of its response. A fresh connection closed without a response, or a partial
 * response, is a failed request.
 */
async function httpLoop(port: number, tag: string, more: () => boolean, t: Tally, pauseMs: number): Promise<void> {
  let i = 0;
  while (more()) {
    const { st, next, connected } = watched(port);
    if (!(await connected())) {
      t.lost++;
      continue;
    }
    t.connections++;
    const local = st.s.localPort!;
    let reused = false;
    while (more() && !st.closed) {
      const path = `/${tag}-${i}`;
      st.s.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
      let head = -1;
      while ((head = st.buf.indexOf('\r\n\r\n')) < 0 && !st.closed) await next();
      if (head < 0) {
        if (st.buf.length === 0 && reused) t.retried++;
        else t.lost++;
        break;
      }
      const headers = st.buf.slice(0, head);
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? -1);
      while (st.buf.length < head + 4 + len && !st.closed) await next();
      if (len < 0 || st.buf.length < head + 4 + len) {
        t.lost++;
        break;
      }
      const body = st.buf.slice(head + 4, head + 4 + len);
      st.buf = st.buf.slice(head + 4 + len);
      if (!headers.startsWith('HTTP/1.1 200 ') || body !== 'ok') {
        t.bad.push(headers);
        break;
      }
      t.replied.set(path, local);
      t.ok++;
      t.lastOk.set(tag, Date.now());
      i++;
      reused = true;
      if (/\r\nconnection: *close/i.test(headers)) {
        while (!st.closed) await next(); // the server closes after Connection: close
        break;
      }
      await sleep(pauseMs);
    }
    st.s.destroy();
  }
}

/** Every message the server logged as received was answered once, on the connection that read it. */
function everyReadAnswered(proc: Proc, t: Tally, key: (e: Event) => string): void {
  const reads = proc.events.filter((e) => e.ev === 'receive');
  const unanswered = reads.filter((e) => t.replied.get(key(e)) !== remoteOf(e).port).map((e) => `${key(e)} (pid ${e.pid})`);
  expect(unanswered, `${unanswered.length} of ${reads.length} messages read were never answered`).toEqual([]);
  const keys = reads.map(key);
  expect(new Set(keys).size, 'a message read twice').toBe(keys.length);
  expect(reads.length).toBe(t.ok);
}

for (const async of [false, true]) {
  const style = async ? 'async' : 'sync';

  describe(`${style} handlers: after the peer's FIN`, () => {
    it('the server closes within 60 ms of the client end() (95th percentile of 200 connections), and stats count them closed at once', async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 1, protocol: 'eof' },
        async,
        addressed: true,
        statsOnSignal: true,
      });
      const endedAt = new Map<number, number>();
      const batch = async (n: number) => {
        const clients = await Promise.all(Array.from({ length: n }, () => Client.open(port)));
        await Promise.all(clients.map((c, k) => c.write(`m${k}\r\n`)));
        await Promise.all(clients.map((c, k) => c.waitBytes(`m${k}\r\n`.length)));
        for (const [k, c] of clients.entries()) expect(c.data.toString()).toBe(`m${k}\r\n`);
        for (const c of clients) {
          endedAt.set(c.socket.localPort!, Date.now());
          c.end();
        }
        return clients;
      };
      for (let b = 0; b < 10; b++) {
        const clients = await batch(20);
        await Promise.all(clients.map((c) => c.done));
      }
      expect(await until(() => proc.count('close') >= 200, 5000)).toBe(true);
      const ms = proc.events.filter((e) => e.ev === 'close').map((e) => (e.t as number) - endedAt.get(remoteOf(e).port)!);
      const report = `end() -> close: median ${percentile(ms, 0.5)} ms, p95 ${percentile(ms, 0.95)} ms, max ${Math.max(...ms)} ms`;
      console.log(`${style}: ${report}`);
      expect(ms).toHaveLength(200);
      expect(percentile(ms, 0.95), report).toBeLessThan(60);

      // Stats: a snapshot asked for within 60 ms of the end() calls shows them closed.
      const before = await statsNow(proc);
      expect(before).toMatchObject({ connections: 0, accepted: 200, closed: 200 });
      await batch(20);
      const t0 = Date.now();
      let last: Totals | null = null;
      while (Date.now() - t0 < 60) {
        last = await statsNow(proc);
        if (last.connections === 0 && last.closed === 220) break;
      }
      expect(last, 'stats asked for within 60 ms of end()').toMatchObject({ connections: 0, accepted: 220, closed: 220 });
      expect(exitsOf(proc)).toEqual([]);
      void workers;
    });
  });

  describe(`${style} handlers: a drain answers every message it reads`, () => {
    const awaitMs = async ? 150 : 0;
    const clients = 120;

    async function eofLoad(settings: Record<string, unknown>, act: (proc: Proc, workers: number[]) => Promise<number[]>) {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 2, protocol: 'eof', max_wait_time: 1.5, ...settings },
        async,
        awaitMs,
        addressed: true,
        logReceive: true,
        logData: true,
      });
      const t = tally();
      let running = true;
      const tags = Array.from({ length: clients }, (_, k) => `c${k}`);
      const loops = tags.map((tag) => eofLoop(port, tag, () => running, t, 200));
      expect(await until(() => t.lastOk.size === clients, 10_000)).toBe(true);
      const gone = await act(proc, workers);
      // Every client carries on after the drains, on a new connection where its old one was closed.
      const after = Date.now();
      expect(await until(() => tags.every((tag) => t.lastOk.get(tag)! > after), 10_000)).toBe(true);
      running = false;
      await Promise.all(loops);
      console.log(
        `${style}: ${t.ok} replies on ${t.connections} connections, ${t.retried} resent after a close; workers gone: ${gone.join(' ')}`,
      );
      expect(t.bad).toEqual([]);
      expect(t.lost).toBe(0);
      everyReadAnswered(proc, t, (e) => text(e).slice(0, -2));
      for (const e of exitsOf(proc)) expect(e).toMatchObject({ code: 0, signal: null });
      expect(proc.events.filter((e) => e.ev === 'error')).toEqual([]);
    }

    it(`eof: ${clients} looping clients (200 ms pauses) across a SIGUSR1 reload: every message read is answered on its connection`, async () => {
      await eofLoad({}, async (proc, workers) => {
        proc.kill('SIGUSR1');
        expect(await until(() => workers.every((w) => exitsOf(proc).some((e) => e.pid === w)), 10_000)).toBe(true);
        return workers;
      });
    });

    it(`eof: ${clients} looping clients (200 ms pauses) across max_request recycles: every message read is answered on its connection`, async () => {
      await eofLoad({ max_request: 200 }, async (proc) => {
        expect(await until(() => exitsOf(proc).length >= 2, 15_000)).toBe(true);
        return exitsOf(proc).map((e) => e.pid);
      });
    });

    it('http: 40 keep-alive clients (200 ms pauses) across a SIGUSR1 reload: no failed request, each request read answered exactly once', async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 2, protocol: 'http', max_wait_time: 1.5 },
        mode: 'http',
        async,
        awaitMs,
        addressed: true,
        logReceive: true,
        logData: true,
      });
      const t = tally();
      let running = true;
      const tags = Array.from({ length: 40 }, (_, k) => `h${k}`);
      const loops = tags.map((tag) => httpLoop(port, tag, () => running, t, 200));
      expect(await until(() => t.lastOk.size === tags.length, 10_000)).toBe(true);
      const okBefore = t.ok;
      proc.kill('SIGUSR1');
      expect(await until(() => workers.every((w) => exitsOf(proc).some((e) => e.pid === w)), 10_000)).toBe(true);
      const after = Date.now();
      expect(await until(() => tags.every((tag) => t.lastOk.get(tag)! > after), 10_000)).toBe(true);
      running = false;
      await Promise.all(loops);
      console.log(`${style}: http ${t.ok} ok on ${t.connections} connections, ${t.retried} retried on a new connection`);
      expect(t.bad).toEqual([]);
      expect(t.lost).toBe(0);
      expect(t.ok).toBeGreaterThan(okBefore);
      // The request path is unique per request (a retry repeats it): read once, answered once.
      everyReadAnswered(proc, t, (e) => /^GET (\S+) /.exec(text(e))![1]);
      for (const e of exitsOf(proc)) expect(e).toMatchObject({ code: 0, signal: null });
      expect(proc.events.filter((e) => e.ev === 'error')).toEqual([]);
    });
  });

  describe(`${style} handlers: a signal to the whole process group forks nothing`, () => {
    for (const [sig, who] of [
      ['SIGINT', 'Ctrl-C in a terminal'],
      ['SIGTERM', "systemd's KillMode=control-group"],
    ] as const) {
      it(`${sig} to the group (${who}) stops the server, no worker forked after it, exit 0 (3 times)`, async () => {
        for (let round = 0; round < 3; round++) {
          const { proc, port, workers } = await startFixture(
            { settings: { process_number: 2, protocol: 'eof' }, async, addressed: true },
            { detached: true },
          );
          const c = await Client.open(port);
          await c.write('hi\r\n');
          expect((await c.waitBytes(4)).toString()).toBe('hi\r\n');
          const mark = proc.events.length;
          const seen = new Set(descendants(proc.pid));
          expect([...seen].sort()).toEqual([...workers].sort());
          process.kill(-proc.pid, sig);
          // Every process the master has until it exits.
          let watching = true;
          const watch = (async () => {
            while (watching) {
              for (const d of descendants(proc.pid)) seen.add(d);
              await sleep(2);
            }
          })();
          const exit = await proc.exited;
          watching = false;
          await watch;
          const late = proc.events.slice(mark).filter((e) => e.ev === 'workerStart' || e.ev === 'role');
          expect(late, `round ${round}: a worker started after ${sig}`).toEqual([]);
          expect(
            [...seen].filter((p) => !workers.includes(p)),
            `round ${round}: forked after ${sig}`,
          ).toEqual([]);
          expect(exit, `round ${round}`).toEqual({ code: 0, signal: null });
          expect(
            exitsOf(proc)
              .map((e) => e.pid)
              .sort(),
          ).toEqual([...workers].sort());
          for (const w of workers) expect(alive(w)).toBe(false);
          c.destroy();
        }
      });
    }
  });
}
