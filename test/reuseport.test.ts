// dispatch_mode reuseport through real processes and sockets: each worker
// listens on a socket of its own (SO_REUSEPORT), port 0 is chosen by the
// first worker, a port another program holds fails run(), and with
// net.ipv4.tcp_migrate_req = 1 a rolling reload under looping clients loses
// no request. Runs on Node 22.12+ (CI: 22 and 24); on older Node only the
// refusal of the setting.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { Server } from '../src/index.js';
import { reusePortSupported } from '../src/dispatch/reuseport.js';
import { Client, cleanup, startFixture, until } from './helpers/proc.js';

afterEach(cleanup);

const supported = reusePortSupported();

/** Inodes of the sockets listening on 127.0.0.1:port (from /proc/net/tcp). */
function listenInodes(port: number): number[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === `0100007F:${hexPort}` && f[3] === '0A') out.push(Number(f[9]));
  }
  return out;
}

/** The socket inodes a process holds. */
function socketInodes(pid: number): Set<number> {
  const out = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

/** One request per connection, as ab does: connect, send a line, read its echo, close. Resolves with what came back. */
function request(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.length >= line.length) s.end();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    s.write(line);
  });
}

describe.skipIf(supported)(`reuseport on ${process.version} (before 22.12)`, () => {
  it('the setting is refused with ERR_INVALID_SETTING that says why', () => {
    const s = new Server('127.0.0.1', 0);
    expect(() => s.set('dispatch_mode', 'reuseport')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_SETTING', key: 'dispatch_mode', message: expect.stringContaining('22.12') }),
    );
  });
});

describe.skipIf(!supported)(`reuseport on ${process.version}`, () => {
  it('port 0: the first worker picks the port, every worker listens on a socket of its own, the master on none; all serve', async () => {
    const { proc, port, workers } = await startFixture({
      settings: { process_number: 3, protocol: 'eof', dispatch_mode: 'reuseport' },
    });
    expect(port).toBeGreaterThan(0);
    const inodes = listenInodes(port);
    expect(inodes).toHaveLength(3);
    const held = workers.map((pid) => inodes.filter((i) => socketInodes(pid).has(i)));
    for (const h of held) expect(h).toHaveLength(1);
    expect(new Set(held.flat()).size).toBe(3);
    expect(inodes.some((i) => socketInodes(proc.pid).has(i))).toBe(false);
    // The kernel spreads connections over the three queues.
    const clients = await Promise.all(Array.from({ length: 60 }, () => Client.open(port)));
    await Promise.all(clients.map((c, i) => c.write(`c${i}\r\n`)));
    for (const [i, c] of clients.entries()) expect((await c.waitBytes(`c${i}\r\n`.length)).toString()).toBe(`c${i}\r\n`);
    await until(() => proc.count('accept') >= 60);
    const per = workers.map((pid) => proc.events.filter((e) => e.ev === 'accept' && e.pid === pid).length);
    expect(per.every((n) => n > 0)).toBe(true);
    for (const c of clients) c.destroy();
  });

  it('a port held by another program fails run() with EADDRINUSE', async () => {
    const other = net.createServer();
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    const port = (other.address() as net.AddressInfo).port;
    try {
      const { proc } = await startFixture(
        { port, settings: { process_number: 2, protocol: 'eof', dispatch_mode: 'reuseport' } },
        { waitStart: false },
      );
      const err = await proc.waitEv('runError', 10_000);
      expect(err.code).toBe('EADDRINUSE');
      expect((await proc.exited).code).not.toBe(0);
    } finally {
      other.close();
    }
  });

  describe('net.ipv4.tcp_migrate_req = 1', () => {
    const path = '/proc/sys/net/ipv4/tcp_migrate_req';
    let before = '';
    let writable = true;
    beforeAll(() => {
      try {
        before = readFileSync(path, 'utf8').trim();
        writeFileSync(path, '1');
      } catch {
        writable = false;
      }
    });
    afterAll(() => {
      if (writable && before !== '') writeFileSync(path, before);
    });

    it('a rolling reload under 8 looping no-keep-alive clients: 0 failed requests, every worker replaced', async () => {
      expect(writable, `needs root to set ${path}`).toBe(true);
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 2, protocol: 'eof', dispatch_mode: 'reuseport', log_level: 'info' },
      });
      expect(proc.stdout).toContain('tcp_migrate_req = 1');
      let stop = false;
      const results: string[] = [];
      const loops = Array.from({ length: 8 }, async (_, k) => {
        for (let i = 0; !stop; i++) {
          const line = `r-${k}-${i}\r\n`;
          const got = await request(port, line);
          results.push(got === line ? 'ok' : `lost ${line.trim()}: ${JSON.stringify(got)}`);
        }
      });
      await until(() => results.length > 200, 10_000);
      for (let round = 0; round < 3; round++) {
        const exited = proc.count('workerExit');
        proc.kill('SIGUSR1');
        expect(await until(() => proc.count('workerExit') >= exited + 2, 15_000)).toBe(true);
      }
      const okBefore = results.length;
      await until(() => results.length > okBefore + 100, 10_000);
      stop = true;
      await Promise.all(loops);
      expect(results.filter((r) => r !== 'ok')).toEqual([]);
      expect(results.length).toBeGreaterThan(400);
      const exits = proc.events.filter((e) => e.ev === 'workerExit');
      expect(exits).toHaveLength(6);
      for (const e of exits) expect(e).toMatchObject({ code: 0, signal: null });
      for (const w of workers) expect(exits.some((e) => e.pid === w)).toBe(true);
    }, 60_000);
  });
});
