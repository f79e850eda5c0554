// The connection clocks through real processes and sockets: handshake_timeout
// (TLS and PROXY headers), package_timeout (unfinished messages), the
// heartbeat leaving alone work in flight (a pending callback, a reply still
// flowing out) while still freeing stuck peers, a failed TLS handshake as an
// error event, and a pid_file in a missing directory refused at run().
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { Server } from '../src/index.js';
import { Client, childrenOf, cleanup, selfSignedCert, sleep, startFixture, until, type Proc } from './helpers/proc.js';

afterEach(cleanup);

const { cert, key } = selfSignedCert('tp-timeouts-');
const TLS = { ssl_cert_file: cert, ssl_key_file: key };

/** A TLS client whose handshake completed; `got()` is everything it read, `closed()` whether it closed. */
async function tlsClient(port: number) {
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  let got = '';
  let closed = false;
  socket.on('data', (d) => {
    got += d;
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  return { socket, got: () => got, closed: () => closed };
}

/** Milliseconds from `t0` until the client closed (rejects if it stays open `ms`). */
async function closedAfter(c: Client, t0: number, ms = 5000): Promise<number> {
  const ok = await Promise.race([c.done.then(() => true), sleep(ms).then(() => false)]);
  if (!ok) throw new Error(`the connection stayed open ${ms} ms`);
  return Date.now() - t0;
}

/** The error events with this code. */
const errors = (proc: Proc, code: string) => proc.events.filter((e) => e.ev === 'error' && e.code === code);

/** server.stats() in the master, asked with SIGUSR2 (fixture option statsOnSignal): the totals' errors by code. */
async function statsErrors(proc: Proc): Promise<Record<string, number>> {
  const seen = proc.count('stats');
  proc.kill('SIGUSR2');
  expect(await until(() => proc.count('stats') > seen, 5000, 5)).toBe(true);
  const s = proc.events.filter((e) => e.ev === 'stats').at(-1)!.stats as { total: { errors: Record<string, number> } };
  return s.total.errors;
}

describe('handshake_timeout: TLS', () => {
  it('a TCP client that never starts the handshake is failed with ERR_HANDSHAKE_TIMEOUT; a finished handshake is not timed', async () => {
    const { proc, port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', ...TLS, handshake_timeout: 0.5 },
      statsOnSignal: true,
    });
    const secure = await tlsClient(port);
    const tSecure = Date.now();
    const t0 = Date.now();
    const silent = await Client.open(port);
    const after = await closedAfter(silent, t0);
    expect(after).toBeGreaterThanOrEqual(450);
    expect(after).toBeLessThan(2000);
    const err = await proc.waitEv('error', 2000, (e) => e.code === 'ERR_HANDSHAKE_TIMEOUT');
    expect(err.message).toMatch(/handshake_timeout/);
    // The TLS client that completed its handshake stayed quiet past the timeout: still served.
    await sleep(Math.max(0, 1500 - (Date.now() - tSecure)));
    expect(secure.closed()).toBe(false);
    secure.socket.write('still here\r\n');
    expect(await until(() => secure.got() === 'still here\r\n')).toBe(true);
    expect(errors(proc, 'ERR_HANDSHAKE_TIMEOUT')).toHaveLength(1);
    expect((await statsErrors(proc)).ERR_HANDSHAKE_TIMEOUT).toBe(1);
    secure.socket.destroy();
  });

  it('handshake_timeout: 0 is off: a silent TCP client is still open after 1.5 s', async () => {
    const { proc, port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', ...TLS, handshake_timeout: 0 },
    });
    const silent = await Client.open(port);
    await sleep(1500); // a bounded wait: nothing should happen
    expect(silent.closed).toBe(false);
    expect(proc.count('error')).toBe(0);
    silent.destroy();
  });

  it('plain bytes on a TLS port are an ERR_TLS_HANDSHAKE error event, counted; the worker keeps serving TLS', async () => {
    const { proc, port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', ...TLS },
      statsOnSignal: true,
    });
    const plain = await Client.open(port);
    await plain.write('GET / HTTP/1.1\r\n\r\n');
    await closedAfter(plain, Date.now());
    const err = await proc.waitEv('error', 3000, (e) => e.code === 'ERR_TLS_HANDSHAKE');
    expect(err.message).toMatch(/TLS handshake failed/);
    expect((await statsErrors(proc)).ERR_TLS_HANDSHAKE).toBe(1);
    const secure = await tlsClient(port);
    secure.socket.write('after\r\n');
    expect(await until(() => secure.got() === 'after\r\n')).toBe(true);
    secure.socket.destroy();
  });
});

describe('handshake_timeout: PROXY header', () => {
  it('an incomplete PROXY header is failed with ERR_HANDSHAKE_TIMEOUT; a complete one then quiet is not', async () => {
    const { proc, port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', proxy_protocol: true, handshake_timeout: 0.5 },
    });
    const whole = await Client.open(port);
    await whole.write('PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n');
    const tWhole = Date.now();
    const t0 = Date.now();
    const half = await Client.open(port);
    await half.write('PROXY TCP4 ');
    const after = await closedAfter(half, t0);
    expect(after).toBeGreaterThanOrEqual(450);
    expect(after).toBeLessThan(2000);
    await proc.waitEv('error', 2000, (e) => e.code === 'ERR_HANDSHAKE_TIMEOUT');
    await sleep(Math.max(0, 1500 - (Date.now() - tWhole)));
    expect(whole.closed).toBe(false);
    await whole.write('hello\r\n');
    expect((await whole.waitBytes(7)).toString()).toBe('hello\r\n');
    expect(errors(proc, 'ERR_HANDSHAKE_TIMEOUT')).toHaveLength(1);
    whole.destroy();
  });
});

/** Per protocol: its settings, a complete message and its reply, and an unfinished message to trickle. */
const PROTOCOLS = {
  eof: {
    settings: { protocol: 'eof' },
    mode: 'echo',
    message: Buffer.from('ping\r\n'),
    reply: (n: number) => 'ping\r\n'.repeat(n).length,
    unfinished: Buffer.from('x'.repeat(100)),
  },
  length: {
    settings: { protocol: 'length', package_length_type: 'N', package_length_offset: 0, package_body_offset: 4 },
    mode: 'echo',
    message: Buffer.from([0, 0, 0, 4, 0x70, 0x69, 0x6e, 0x67]),
    reply: (n: number) => 8 * n,
    unfinished: Buffer.concat([Buffer.from([0, 0, 0x03, 0xe8]), Buffer.alloc(1000, 0x78)]),
  },
  http: {
    settings: { protocol: 'http' },
    mode: 'http',
    message: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    reply: (n: number) => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'.repeat(n).length,
    unfinished: Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(200)}`),
  },
} as const;

describe('package_timeout', () => {
  for (const [name, p] of Object.entries(PROTOCOLS)) {
    for (const async of [false, true]) {
      it(`${name}${async ? ' (async)' : ''}: a message trickled and never finished is failed with ERR_PACKAGE_TIMEOUT; complete messages every 100 ms are not`, async () => {
        const { proc, port } = await startFixture({
          settings: { process_number: 1, ...p.settings, package_timeout: 0.6 },
          mode: p.mode,
          async,
        });
        const loris = await Client.open(port);
        const steady = await Client.open(port);
        let i = 0;
        let sent = 0;
        const t0 = Date.now();
        const tick = () => {
          if (!loris.closed && i < p.unfinished.length) loris.socket.write(p.unfinished.subarray(i, ++i));
          if (Date.now() - t0 < 1500 && !steady.closed) {
            steady.socket.write(p.message);
            sent++;
          }
        };
        tick();
        const timer = setInterval(tick, 100);
        try {
          const after = await closedAfter(loris, t0);
          expect(after).toBeGreaterThanOrEqual(550);
          expect(after).toBeLessThan(2500);
          await proc.waitEv('error', 2000, (e) => e.code === 'ERR_PACKAGE_TIMEOUT');
          await until(() => Date.now() - t0 >= 1600, 3000);
        } finally {
          clearInterval(timer);
        }
        expect(sent).toBeGreaterThanOrEqual(12);
        expect(await until(() => steady.data.length >= p.reply(sent))).toBe(true);
        expect(steady.data.length).toBe(p.reply(sent));
        expect(steady.closed).toBe(false);
        expect(errors(proc, 'ERR_PACKAGE_TIMEOUT')).toHaveLength(1);
        steady.destroy();
      });
    }
  }
});

const MiB = 1024 * 1024;

/**
 * Sends `go\r\n`, then reads the reply 1 MiB at a time with a pause of `stepMs` between (the socket
 * paused, so the kernel buffers fill and the server's output waits), until `size` bytes or a close.
 */
async function slowRead(port: number, size: number, stepMs = 150) {
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  let got = 0;
  let stop = MiB;
  let closed = false;
  s.on('error', () => {});
  s.on('close', () => {
    closed = true;
  });
  s.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= stop && !s.isPaused()) {
      s.pause();
      setTimeout(() => {
        stop += MiB;
        s.resume();
      }, stepMs);
    }
  });
  const t0 = Date.now();
  s.write('go\r\n');
  await until(() => got >= size || closed, 15_000, 10);
  const took = Date.now() - t0;
  s.destroy();
  return { got, closed, took };
}

describe('heartbeat_idle_time and work in flight', () => {
  it('async: a receive callback whose reply comes after 1.2 s is not cut at 0.5 s idle; the reply arrives, then idle is closed', async () => {
    const { proc, port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', heartbeat_idle_time: 0.5 },
      async: true,
      awaitMs: 1200,
    });
    const c = await Client.open(port);
    const t0 = Date.now();
    await c.write('slow\r\n');
    await c.waitBytes(6, 5000);
    expect(c.data.toString()).toBe('slow\r\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1150);
    // Nothing pending any more: the heartbeat frees the idle connection.
    await closedAfter(c, t0, 5000);
    await proc.waitEv('close');
  });

  it('sync: the reply of a receive handler busy for 1.2 s arrives with heartbeat 0.5 s', async () => {
    const { port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', heartbeat_idle_time: 0.5 },
      awaitMs: 1200,
    });
    const c = await Client.open(port);
    const t0 = Date.now();
    await c.write('busy\r\n');
    await c.waitBytes(6, 5000);
    expect(c.data.toString()).toBe('busy\r\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1150);
    c.destroy();
  });

  for (const netSocket of [false, true]) {
    const env: Record<string, string> = netSocket ? { TCP_PREFORK_NET_SOCKET: '1' } : {};
    const label = netSocket ? ' (net.Socket path)' : '';

    // Output counts as flowing while libuv's queue for the kernel shrinks, also inside one big write
    // (a 32 MiB reply is one write: before, only a finished write counted, and the reader was cut at ~8 MB).
    it(`a 32 MiB reply (one write) read 1 MiB every 150 ms (far past 0.5 s idle) arrives whole${label}`, async () => {
      const { port } = await startFixture(
        { settings: { process_number: 1, protocol: 'eof', heartbeat_idle_time: 0.5 }, mode: 'big', replyBytes: 32 * MiB },
        { env },
      );
      const r = await slowRead(port, 32 * MiB);
      // Every byte arrives. (Once the last bytes are in the kernel the server may close: the FIN follows them.)
      expect(r.got).toBe(32 * MiB);
      expect(r.took).toBeGreaterThan(2000); // it really was slow
    }, 20_000);

    // On the net.Socket path (TLS's too) the socket keeps one write in flight and hands every buffered
    // send to the next writev, so 32 sends are one big write again: progress is the TCP handle's queue.
    it(`a 32 MiB reply in 32 sends (async) read 1 MiB every 150 ms (far past 0.5 s idle) arrives whole${label}`, async () => {
      const { port } = await startFixture(
        {
          settings: { process_number: 1, protocol: 'eof', heartbeat_idle_time: 0.5 },
          mode: 'big-chunks',
          replyBytes: 32 * MiB,
          replyChunks: 32,
          async: true,
        },
        { env },
      );
      const r = await slowRead(port, 32 * MiB);
      expect(r.got).toBe(32 * MiB);
      expect(r.took).toBeGreaterThan(2000); // it really was slow
    }, 20_000);

    it(`a client that stops reading a 32 MiB reply is still closed by the heartbeat${label}`, async () => {
      const { proc, port } = await startFixture(
        { settings: { process_number: 1, protocol: 'eof', heartbeat_idle_time: 0.5 }, mode: 'big', replyBytes: 32 * MiB },
        { env },
      );
      const s = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
      s.on('error', () => {});
      let got = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= MiB) s.pause(); // and never again
      });
      const t0 = Date.now();
      s.write('go\r\n');
      const close = await proc.waitEv('close', 6000, (e) => (e.remote as { port: number }).port === s.localPort);
      const after = (close.t as number) - t0;
      expect(after).toBeGreaterThanOrEqual(450);
      expect(after).toBeLessThan(1500 + 1000); // 3x the idle time, and a beat's slack
      expect(got).toBeLessThan(32 * MiB);
      s.destroy();
    });
  }
});

describe('pid_file', () => {
  it.each([
    ['a missing directory', '/nonexistent-dir-xyz/a.pid'],
    ['a parent that is a file', '/etc/hostname/a.pid'],
  ])('in %s: run() rejects with ERR_INVALID_SETTING (key pid_file) before forking', async (_what, path) => {
    const before = childrenOf(process.pid).length;
    const server = new Server('127.0.0.1', 0);
    server.set('pid_file', path);
    await expect(server.run()).rejects.toMatchObject({ code: 'ERR_INVALID_SETTING', key: 'pid_file' });
    expect(childrenOf(process.pid).length).toBe(before);
  });
});
