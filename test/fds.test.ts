// A worker at its open-file limit: the default max_conn leaves room for the
// descriptors the worker already holds, so extra connections are refused with
// ERR_MAX_CONN (never dropped without a word), and the stats a status command
// asks for do not kill it. The fixture runs under `prlimit --nofile=64:64`;
// each promise with synchronous and with async handlers (fixture `async`).
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, alive, cleanup, sleep, startFixture, until, type Proc } from './helpers/proc.js';

afterEach(cleanup);

const run = promisify(execFile);
const LIMIT = ['prlimit', '--nofile=64:64'];
const dir = mkdtempSync(join(tmpdir(), 'tp-fds-'));
let files = 0;

const exitsOf = (proc: Proc) => proc.events.filter((e) => e.ev === 'workerExit');
const maxConnErrors = (proc: Proc) => proc.events.filter((e) => e.ev === 'error' && e.code === 'ERR_MAX_CONN').length;

/** Opens a client, sends one eof line, and waits for its echo or for the server to close it. */
async function tryClient(port: number, line: string): Promise<{ c: Client; served: boolean }> {
  const c = new Client(port);
  await c.ready.catch(() => {});
  c.socket.write(`${line}\r\n`);
  await until(() => c.data.length >= line.length + 2 || c.closed, 5000, 2);
  const served = c.data.toString() === `${line}\r\n` && !c.closed;
  if (!served) {
    await Promise.race([c.done, sleep(3000)]);
    expect(c.closed, `${line}: neither echoed nor closed`).toBe(true);
    expect(c.data.length, `${line}: closed after a partial reply`).toBe(0);
  }
  return { c, served };
}

/** Opens `n` clients one after another; returns the served ones and how many were closed unserved. */
async function fill(port: number, n: number, tag: string): Promise<{ served: Client[]; refused: number }> {
  const served: Client[] = [];
  let refused = 0;
  for (let i = 0; i < n; i++) {
    const r = await tryClient(port, `${tag}${i}`);
    if (r.served) served.push(r.c);
    else refused++;
  }
  return { served, refused };
}

async function stillEchoes(c: Client, line: string): Promise<void> {
  const at = c.data.length;
  await c.write(`${line}\r\n`);
  await c.waitBytes(at + line.length + 2);
  expect(c.data.subarray(at).toString()).toBe(`${line}\r\n`);
  expect(c.closed).toBe(false);
}

for (const async of [false, true]) {
  const style = async ? 'async' : 'sync';

  describe(`${style} handlers: a worker at its open-file limit (nofile 64)`, () => {
    it('150 clients with the default max_conn: each is served or refused with its own ERR_MAX_CONN; the worker lives and serves again once they leave', async () => {
      const { proc, port, workers } = await startFixture(
        { settings: { process_number: 1, protocol: 'eof' }, async, addressed: true },
        { wrap: LIMIT },
      );
      const w = workers[0];
      const { served, refused } = await fill(port, 150, 'c');
      console.log(`${style}: ${served.length} served, ${refused} refused`);
      expect(served.length).toBeGreaterThan(10);
      expect(refused, 'the limit was reached').toBeGreaterThan(0);
      // One ERR_MAX_CONN per refused client, and no other error.
      await until(() => maxConnErrors(proc) >= refused, 3000);
      expect(maxConnErrors(proc), `${refused} clients refused`).toBe(refused);
      expect(proc.events.filter((e) => e.ev === 'error' && e.code !== 'ERR_MAX_CONN')).toEqual([]);
      expect(exitsOf(proc)).toEqual([]);
      expect(alive(w)).toBe(true);
      for (const [i, c] of served.slice(0, 5).entries()) await stillEchoes(c, `again${i}`);

      // They leave; new connections are served again, by the same worker.
      const closesBefore = proc.count('close');
      for (const c of served) c.destroy();
      expect(await until(() => proc.count('close') >= closesBefore + served.length, 5000)).toBe(true);
      const again = await fill(port, 10, 'n');
      expect(again.refused).toBe(0);
      expect(again.served).toHaveLength(10);
      for (const c of again.served) c.destroy();
      expect(exitsOf(proc)).toEqual([]);
      expect(alive(w)).toBe(true);
    });

    it('tcp-prefork status and server.stats() with the worker at its limit: it is listed, keeps its pid, and its connections still echo', async () => {
      const pidFile = join(dir, `server-${++files}.pid`);
      const { proc, port, workers } = await startFixture(
        { settings: { process_number: 1, protocol: 'eof', pid_file: pidFile }, async, addressed: true, statsOnSignal: true },
        { wrap: LIMIT },
      );
      const w = workers[0];
      // Fill the worker until it turns a client away.
      const served: Client[] = [];
      let refused = 0;
      for (let i = 0; i < 150 && refused === 0; i++) {
        const r = await tryClient(port, `c${i}`);
        if (r.served) served.push(r.c);
        else refused++;
      }
      expect(refused, 'the limit was reached').toBe(1);

      const status = await run(process.execPath, ['build/src/cli.js', 'status', '--pid-file', pidFile, '--json'], {
        timeout: 20_000,
      }).catch((e: { code: number; stdout: string; stderr: string }) => e);
      expect(status.stderr).toBe('');
      expect(exitsOf(proc), 'the worker survived the stats request').toEqual([]);
      const listed = JSON.parse(status.stdout) as { workers: { pid: number; connections: number }[] };
      expect(listed.workers.map((x) => x.pid)).toEqual([w]);
      expect(listed.workers[0].connections).toBe(served.length);

      const seen = proc.count('stats');
      proc.kill('SIGUSR2');
      expect(await until(() => proc.count('stats') > seen, 5000)).toBe(true);
      const stats = proc.events.filter((e) => e.ev === 'stats').at(-1)!.stats as { workers: { pid: number }[] };
      expect(stats.workers.map((x) => x.pid)).toEqual([w]);

      expect(exitsOf(proc)).toEqual([]);
      expect(alive(w)).toBe(true);
      for (const [i, c] of served.entries()) await stillEchoes(c, `still${i}`);
      expect(exitsOf(proc)).toEqual([]);
    });
  });
}
