// A worker that stops answering (SIGSTOP, or a callback that blocks its event
// loop): the master's heartbeat notices it and places no new connections on
// it while the other answers (round_robin, hybrid); `tcp-prefork status`
// answers within a second and lists it as not answering; connections the
// master itself refuses are counted in stats().refused. Real processes,
// sockets and signals.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { askControl } from '../src/control.js';
import { Client, cleanup, servedBy, startFixture, until, type Proc } from './helpers/proc.js';

const run = promisify(execFile);
const CLI = 'build/src/cli.js';
afterEach(cleanup);

const dir = mkdtempSync(join(tmpdir(), 'tp-hung-'));
let n = 0;
const pidPath = () => join(dir, `server-${++n}.pid`);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 10_000 });
    return { code: 0, stdout, stderr, ms: Date.now() - t0 };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, ms: Date.now() - t0 };
  }
}

/** The master's log (stdout for info, stderr for errors) has a line matching re. */
const logged = (proc: Proc, re: RegExp) => re.test(proc.stdout) || re.test(proc.stderr);

/** Opens n connections at once, each sending a line; resolves with the clients once each got its echo (or after ms). */
async function echoes(port: number, count: number, tag: string, ms = 4000): Promise<{ clients: Client[]; echoed: number }> {
  const clients = await Promise.all(Array.from({ length: count }, () => Client.open(port)));
  const msgs = clients.map((_, i) => `${tag}-${i}\r\n`);
  await Promise.all(clients.map((c, i) => c.write(msgs[i])));
  await until(() => clients.every((c, i) => c.data.length >= msgs[i].length || c.closed), ms, 10);
  const echoed = clients.filter((c, i) => c.data.toString() === msgs[i]).length;
  return { clients, echoed };
}

for (const async of [false, true]) {
  const variant = async ? 'async' : 'sync';
  describe(`${variant} handlers: a worker stopped with SIGSTOP`, () => {
    for (const mode of ['round_robin', 'hybrid'] as const) {
      it(`${mode}: once the master notices, new connections all go to the other worker; after SIGCONT it gets them again`, async () => {
        const { proc, port, workers } = await startFixture({
          settings: { process_number: 2, protocol: 'eof', dispatch_mode: mode, log_level: 'info' },
          async,
        });
        const [stopped, other] = workers; // worker 0 and worker 1
        process.kill(stopped, 'SIGSTOP');
        try {
          const silent = new RegExp(`worker 0 \\(pid ${stopped}\\) not answering for 1 s: no new connections placed on it`);
          expect(await until(() => logged(proc, silent), 5000), 'the master noticed').toBe(true);
          const { clients, echoed } = await echoes(port, 20, 'while-stopped');
          expect(echoed, 'every connection served while worker 0 is stopped').toBe(20);
          const by = await Promise.all(clients.map((c) => servedBy(proc, c.socket.localPort!, 2000)));
          expect(new Set(by)).toEqual(new Set([other]));
          // Said once, not every heartbeat.
          expect(proc.stderr.match(new RegExp(silent.source, 'g'))).toHaveLength(1);

          process.kill(stopped, 'SIGCONT');
          const again = new RegExp(`worker 0 \\(pid ${stopped}\\) answering again`);
          expect(await until(() => logged(proc, again), 5000), 'the master saw it answer').toBe(true);
          // The other holds 20 connections: the next ones reach the resumed worker.
          const after = await echoes(port, 10, 'after');
          expect(after.echoed).toBe(10);
          const byAfter = await Promise.all(after.clients.map((c) => servedBy(proc, c.socket.localPort!, 2000)));
          expect(byAfter).toContain(stopped);
          for (const c of [...clients, ...after.clients]) c.destroy();
        } finally {
          process.kill(stopped, 'SIGCONT');
        }
      }, 15_000);
    }
  });

  describe(`${variant} handlers: status with one worker busy for 3 s`, () => {
    it('answers within about a second and lists both workers, the busy one as not answering', async () => {
      const pidFile = pidPath();
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 2, protocol: 'eof', pid_file: pidFile },
        mode: 'slow',
        busyMs: 3000,
        logReceive: true,
        async,
      });
      // An idle connection on each worker, to see the counters of the one that answers.
      const hog = await Client.open(port);
      const busyPid = await servedBy(proc, hog.socket.localPort!);
      const idlePid = workers.find((w) => w !== busyPid)!;
      await hog.write('work\r\n');
      await proc.waitEv('receive', 5000, (e) => e.pid === busyPid);

      const t0 = Date.now();
      const [direct, table] = await Promise.all([
        askControl(proc.pid, 'stats').then((s) => ({ s: s as Record<string, unknown>, ms: Date.now() - t0 })),
        cli('status', '--pid-file', pidFile),
      ]);
      expect(direct.ms, 'stats over the control socket').toBeLessThan(1500);
      const s = direct.s as {
        total: { workers: number; not_answering: number; connections: number; accepted: number };
        workers: { pid: number; worker: number; answered: boolean; connections?: number }[];
      };
      expect(s.workers.map((w) => w.pid).sort()).toEqual([...workers].sort());
      const busy = s.workers.find((w) => w.pid === busyPid)!;
      const idle = s.workers.find((w) => w.pid === idlePid)!;
      expect(busy).toMatchObject({ answered: false, worker: workers.indexOf(busyPid) });
      expect(busy.connections).toBeUndefined();
      expect(idle).toMatchObject({ answered: true, connections: 0 });
      expect(s.total).toMatchObject({ workers: 2, not_answering: 1, connections: 0, accepted: 0 });

      expect(table.code).toBe(0);
      expect(table.ms, `status took ${table.ms} ms`).toBeLessThan(2500);
      const line = table.stdout.split('\n').find((l) => l.includes(String(busyPid)));
      expect(line, table.stdout).toMatch(/not answering/);
      expect(table.stdout).toMatch(/2 workers, 1 not answering/);
      // The busy worker finishes its work and answers again.
      expect((await hog.waitBytes(6, 6000)).toString()).toBe('work\r\n');
      hog.destroy();
    }, 15_000);
  });
}

describe('connections the master refuses count in stats().refused', () => {
  for (const mode of ['round_robin', 'hybrid'] as const) {
    it(`${mode}, max_conn 2: the connections past it are closed and counted`, async () => {
      const pidFile = pidPath();
      const { proc, port } = await startFixture({
        settings: { process_number: 2, protocol: 'eof', dispatch_mode: mode, max_conn: 2, pid_file: pidFile },
      });
      const kept = await echoes(port, 2, 'kept');
      expect(kept.echoed).toBe(2);
      // Let the workers' load reports reach the master.
      await until(() => proc.count('accept') >= 2, 3000);
      const extra = await Promise.all(Array.from({ length: 3 }, () => Client.open(port)));
      expect(await until(() => extra.every((c) => c.closed), 5000), 'the extra connections were closed').toBe(true);
      for (const c of extra) expect(c.data.length).toBe(0);
      const r = await cli('status', '--pid-file', pidFile, '--json');
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout) as {
        total: { refused: number; master_refused: number; connections: number };
        workers: { refused: number }[];
      };
      expect(s.total.connections).toBe(2);
      // Each closed connection counts once: a worker refusing one the master placed leaves the count to the master.
      expect(s.total.refused).toBe(3);
      expect(s.total.master_refused).toBeGreaterThanOrEqual(1);
      expect(s.total.refused).toBe(s.total.master_refused + s.workers.reduce((a, w) => a + w.refused, 0));
      const table = await cli('status', '--pid-file', pidFile);
      expect(table.stdout).toMatch(new RegExp(`${s.total.master_refused} refused by the master`));
      for (const c of kept.clients) c.destroy();
    }, 15_000);
  }
});
