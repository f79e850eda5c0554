// reload_handover through real processes and sockets: a rolling reload hands
// each open connection, between messages, to the worker that replaces its
// own, with its framing state and what the handover callback returned;
// clients that never reconnect lose nothing. TLS connections cannot move and
// drain as in any reload. Sync and async callbacks.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Client, cleanup, sleep, startFixture, until, type Event, type Proc } from './helpers/proc.js';

afterEach(cleanup);

const exitsOf = (proc: Proc) => proc.events.filter((e) => e.ev === 'workerExit');

/** A client that sends a line, waits for its echo, pauses, again; it never reconnects: a close is a failure. */
class Looper {
  replies = 0;
  wrong: string[] = [];
  #stop = false;
  readonly done: Promise<void>;
  constructor(
    readonly client: Client,
    readonly tag: string,
    pauseMs: number,
  ) {
    this.done = this.#run(pauseMs);
  }
  async #run(pauseMs: number): Promise<void> {
    const c = this.client;
    for (let i = 0; !this.#stop && !c.closed; i++) {
      const line = `${this.tag}-${i}\r\n`;
      c.data = Buffer.alloc(0);
      await c.write(line);
      await c.waitBytes(line.length, 10_000);
      const got = c.data.toString();
      if (got !== line) {
        this.wrong.push(`${line.trim()} -> ${JSON.stringify(got)} (closed ${c.closed})`);
        return;
      }
      this.replies++;
      await sleep(pauseMs);
    }
  }
  stop(): Promise<void> {
    this.#stop = true;
    return this.done;
  }
}

for (const async of [false, true]) {
  const style = async ? 'async' : 'sync';
  describe(`${style} handlers`, () => {
    it('a rolling reload under 40 looping clients that never reconnect: nothing lost, every worker replaced, every connection adopted with its value', async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 2, protocol: 'eof', reload_handover: true, max_wait_time: 5 },
        async,
        handover: true,
      });
      const clients = await Promise.all(Array.from({ length: 40 }, () => Client.open(port)));
      const loops = clients.map((c, k) => new Looper(c, `c${k}`, 30));
      await until(() => loops.every((l) => l.replies > 3), 10_000);
      proc.kill('SIGUSR1');
      expect(await until(() => workers.every((w) => exitsOf(proc).some((e) => e.pid === w)), 15_000)).toBe(true);
      const after = loops.map((l) => l.replies);
      await until(() => loops.every((l, k) => l.replies > after[k] + 3), 10_000);
      await Promise.all(loops.map((l) => l.stop()));
      expect(loops.flatMap((l) => l.wrong)).toEqual([]);
      for (const c of clients) expect([c.closed, c.error]).toEqual([false, null]);
      // Every connection moved: adopted by a new worker with what the old one's handover returned.
      const adopts = proc.events.filter((e) => e.ev === 'adopt');
      expect(adopts).toHaveLength(40);
      for (const a of adopts) {
        const v = a.value as { id: string; from: number };
        expect(v.id).toBe((a.remote as { id: string }).id);
        expect(workers).toContain(v.from);
        expect(workers).not.toContain(a.pid);
      }
      // No close callback ran for them in the old workers, and the old workers exited 0.
      expect(proc.events.filter((e) => e.ev === 'close')).toEqual([]);
      for (const e of exitsOf(proc)) expect(e).toMatchObject({ code: 0, signal: null });
      for (const c of clients) c.destroy();
    }, 40_000);

    it('a message split across the hand-over: its first half read by the old worker, the rest by the new one, echoed whole', async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 1, protocol: 'eof', reload_handover: true },
        async,
        handover: true,
      });
      const c = await Client.open(port);
      await c.write('hello\r\n');
      await c.waitBytes(7);
      c.data = Buffer.alloc(0);
      await c.write('first half, ');
      await until(() => proc.events.some((e) => e.ev === 'accept'));
      await sleep(100); // read by the old worker, held unfinished
      proc.kill('SIGUSR1');
      await proc.waitEv('workerExit', 10_000, (e) => e.pid === workers[0]);
      const adopt = await proc.waitEv('adopt', 5000);
      expect(adopt.pid).not.toBe(workers[0]);
      await c.write('second half\r\n');
      await c.waitBytes('first half, second half\r\n'.length);
      expect(c.data.toString()).toBe('first half, second half\r\n');
      expect([c.closed, c.error]).toEqual([false, null]);
      c.destroy();
    }, 20_000);
  });
}

describe('TLS', () => {
  it('a TLS connection cannot move (its session lives in the old worker): it is drained and closed as in any reload', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
      {
        stdio: 'ignore',
      },
    );
    const { proc, port, workers } = await startFixture({
      settings: {
        process_number: 1,
        protocol: 'eof',
        reload_handover: true,
        max_wait_time: 1,
        ssl_cert_file: cert,
        ssl_key_file: key,
      },
      handover: true,
    });
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    let got = '';
    s.on('data', (d) => {
      got += d;
    });
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    s.write('over tls\r\n');
    await until(() => got === 'over tls\r\n');
    proc.kill('SIGUSR1');
    await proc.waitEv('workerExit', 10_000, (e: Event) => e.pid === workers[0]);
    await closed;
    expect(proc.events.filter((e) => e.ev === 'adopt')).toEqual([]);
    expect(proc.events.some((e) => e.ev === 'close')).toBe(true);
  }, 20_000);
});
