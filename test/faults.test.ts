// Worker lifecycle under faults: killed workers and masters, crash loops,
// graceful stops and reloads under load, and max_request recycling. Real
// processes, real sockets on loopback, real signals.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Client, alive, cleanup, servedBy, sleep, startFixture, until, type Event, type Proc } from './helpers/proc.js';

afterEach(cleanup);

/** Ping-pong on one eof connection: send a line, wait for its echo, again, until stopped. */
class EchoLoop {
  replies = 0;
  wrong = 0;
  #stop = false;
  readonly done: Promise<void>;
  constructor(
    readonly client: Client,
    readonly tag: string,
  ) {
    this.done = this.#run();
  }
  async #run(): Promise<void> {
    const s = this.client.socket;
    let got = '';
    let want = '';
    let wake: (() => void) | null = null;
    s.on('data', (d: Buffer) => {
      got += d.toString();
      wake?.();
    });
    s.on('close', () => wake?.());
    for (let i = 0; !this.#stop && !this.client.closed && !this.client.error; i++) {
      const msg = `${this.tag}-${i}\r\n`;
      want += msg;
      s.write(msg);
      while (got.length < want.length && !this.client.closed)
        await new Promise<void>((r) => {
          wake = r;
        });
      if (got.length < want.length) break;
      if (got !== want) {
        this.wrong++;
        break;
      }
      this.replies++;
      got = want = '';
    }
  }
  stop(): Promise<void> {
    this.#stop = true;
    return this.done;
  }
}

/** A keep-alive HTTP/1.1 client: one request at a time; reconnects when the server says Connection: close. */
interface HttpTally {
  ok: number;
  bad: number;
  lost: number;
  errors: string[];
  connections: number;
  closes: number;
}
const REQUEST = 'GET / HTTP/1.1\r\nHost: t\r\n\r\n';

async function httpLoop(port: number, more: () => boolean, t: HttpTally): Promise<void> {
  while (more()) {
    const s = net.connect(port, '127.0.0.1');
    t.connections++;
    let buf = '';
    let closed = false;
    let wake: (() => void) | null = null;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      wake?.();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      t.errors.push(e.code ?? e.message);
    });
    s.on('close', () => {
      closed = true;
      wake?.();
    });
    const wait = () =>
      new Promise<void>((r) => {
        wake = r;
      });
    let reuse = true;
    while (reuse && more()) {
      s.write(REQUEST);
      let head = -1;
      while ((head = buf.indexOf('\r\n\r\n')) < 0 && !closed) await wait();
      if (head < 0) {
        t.lost++;
        break;
      } // closed with the request unanswered
      const headers = buf.slice(0, head);
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? -1);
      while (buf.length < head + 4 + len && !closed) await wait();
      if (buf.length < head + 4 + len) {
        t.lost++;
        break;
      }
      const body = buf.slice(head + 4, head + 4 + len);
      buf = buf.slice(head + 4 + len);
      if (headers.startsWith('HTTP/1.1 200 ') && body === 'ok') t.ok++;
      else t.bad++;
      reuse = !/\r\nconnection: *close/i.test(headers);
      if (!reuse) {
        while (!closed) await wait(); // the server closes after Connection: close
        t.closes++;
      }
    }
    s.destroy();
    if (!closed) await new Promise<void>((r) => s.once('close', () => r()));
  }
}

const remotePort = (e: Event) => (e.remote as { port: number }).port;

/** Opens clients until every given worker serves at least one; returns one client per worker pid. */
async function clientOnEach(proc: Proc, port: number, pids: number[], extra: Client[] = []): Promise<Map<number, Client>> {
  const on = new Map<number, Client>();
  for (let i = 0; i < 60 && on.size < pids.length; i++) {
    const c = await Client.open(port);
    const pid = await servedBy(proc, c.socket.localPort!);
    if (!on.has(pid)) on.set(pid, c);
    else extra.push(c);
  }
  expect([...on.keys()].sort()).toEqual([...pids].sort());
  return on;
}

describe('worker lifecycle', () => {
  it("SIGKILL to a worker under load: pool recovers, the other worker's clients see nothing, new connections served within 1 s", async () => {
    const { proc, port, workers } = await startFixture({ settings: { process_number: 2, protocol: 'eof' } });
    const extra: Client[] = [];
    const on = await clientOnEach(proc, port, workers, extra);
    const [victim, survivor] = workers;
    const loopOn = new Map([...on.entries()].map(([pid, c]) => [pid, new EchoLoop(c, `w${pid}`)]));
    const loops = [...loopOn.values()];
    const extraLoops = extra.map((c, i) => new EchoLoop(c, `x${i}`));
    await sleep(300); // load running on both workers
    const survivorLoop = loopOn.get(survivor)!;
    expect(loopOn.get(victim)!.replies).toBeGreaterThan(10);
    expect(survivorLoop.replies).toBeGreaterThan(10);

    const t0 = Date.now();
    process.kill(victim, 'SIGKILL');
    const before = survivorLoop.replies;
    // New connections, right after the kill, are answered within 1 s of it.
    const fresh = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        const c = new Client(port);
        await c.write(`new-${i}\r\n`);
        await c.waitBytes(`new-${i}\r\n`.length, 3000);
        return { c, ms: Date.now() - t0, data: c.data.toString() };
      }),
    );
    for (const [i, f] of fresh.entries()) {
      expect(f.data).toBe(`new-${i}\r\n`);
      expect(f.ms).toBeLessThan(1000);
      f.c.destroy();
    }

    const exit = await proc.waitEv('workerExit', 5000, (e) => e.pid === victim);
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL' });
    const err = await proc.waitEv('error', 5000, (e) => e.code === 'ERR_WORKER_EXIT');
    expect(err.pid).toBe(proc.pid);
    expect(err.message).toContain(`pid ${victim}`);
    expect(err.message).toContain(`worker ${exit.workerId}`);
    expect(err.message).toContain('SIGKILL');
    const replacement = await proc.waitEv('workerStart', 5000, (e) => !workers.includes(e.pid));
    expect(replacement.workerId).toBe(exit.workerId);
    expect(alive(replacement.pid)).toBe(true);

    await sleep(200);
    // The survivor's clients kept going without an error.
    expect(survivorLoop.replies).toBeGreaterThan(before);
    expect(survivorLoop.client.error).toBe(null);
    expect(survivorLoop.client.closed).toBe(false);
    expect(survivorLoop.wrong).toBe(0);
    const extraOnSurvivor = extra.filter((c) =>
      proc.events.some((e) => e.ev === 'accept' && e.pid === survivor && remotePort(e) === c.socket.localPort),
    );
    for (const c of extraOnSurvivor) expect([c.error, c.closed]).toEqual([null, false]);

    // The replacement serves too (hybrid hands it sockets once the survivor is ahead).
    const spare: Client[] = [];
    let served = false;
    for (let i = 0; i < 40 && !served; i++) {
      const c = await Client.open(port);
      spare.push(c);
      if ((await servedBy(proc, c.socket.localPort!)) === replacement.pid) {
        await c.write('hello\r\n');
        served = (await c.waitBytes(7)).toString() === 'hello\r\n';
      }
    }
    expect(served).toBe(true);
    await Promise.all([...loops, ...extraLoops].map((l) => l.stop()));
    expect(proc.events.filter((e) => e.ev === 'workerExit')).toHaveLength(1);
  }, 20_000);

  it('SIGKILL to the master while clients are connected: every worker is gone within 2 s', async () => {
    const { proc, port, workers } = await startFixture({ settings: { process_number: 2, protocol: 'eof' } });
    const on = await clientOnEach(proc, port, workers);
    const loops = [...on.entries()].map(([pid, c]) => new EchoLoop(c, `w${pid}`));
    await sleep(200);
    for (const l of loops) expect(l.replies).toBeGreaterThan(0);
    const t0 = Date.now();
    proc.kill('SIGKILL');
    await proc.exited;
    expect(await until(() => workers.every((p) => !alive(p)), 2000 - (Date.now() - t0), 10)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
    await Promise.all(loops.map((l) => l.stop()));
    for (const c of on.values()) {
      await Promise.race([c.done, sleep(2000)]);
      expect(c.closed).toBe(true);
    }
  }, 15_000);

  it('a worker crashing in a loop is respawned with backoff 100 ms x2 (one slot, ~10 s)', async () => {
    const { proc } = await startFixture(
      { settings: { process_number: 1 }, crashOnStart: true, crashAfterMs: 20, stamp: true },
      { waitStart: false },
    );
    const windowMs = 10_000;
    await sleep(windowMs);
    proc.kill('SIGKILL');
    const exits = proc.events.filter((e) => e.ev === 'workerExit');
    const boots = proc.events.filter((e) => e.ev === 'boot');
    for (const e of exits) expect(e).toMatchObject({ code: 7, signal: null, workerId: 0 });
    expect(proc.events.filter((e) => e.ev === 'error' && e.code === 'ERR_WORKER_EXIT')).toHaveLength(exits.length);
    // 100+200+400+800+1600+3200 ms of delays plus the boots fit in 10 s; 6400 more do not.
    expect(exits.length).toBeGreaterThanOrEqual(5);
    expect(exits.length).toBeLessThanOrEqual(8);
    // The respawn delay: from the master seeing exit i to the start of the process that replaced it.
    const delays: number[] = [];
    for (let i = 0; i + 1 < boots.length && i < exits.length; i++) {
      delays.push((boots[i + 1].bornAt as number) - (exits[i].t as number));
    }
    expect(delays.length).toBeGreaterThanOrEqual(4);
    for (const [i, d] of delays.entries()) {
      const expected = Math.min(10_000, 100 * 2 ** i);
      expect(d, `delay ${i}: ${delays.join(', ')}`).toBeGreaterThanOrEqual(expected - 20);
      expect(d, `delay ${i}: ${delays.join(', ')}`).toBeLessThan(expected + 400);
    }
    for (let i = 1; i < delays.length; i++) expect(delays[i], delays.join(', ')).toBeGreaterThan(delays[i - 1]);
    // And the gaps between successive exits grow from the third one on (boot-time noise aside).
    const gaps = exits.slice(1).map((e, i) => (e.t as number) - (exits[i].t as number));
    for (let i = 2; i < gaps.length; i++) expect(gaps[i], gaps.join(', ')).toBeGreaterThan(gaps[i - 1]);
  }, 20_000);

  it('SIGTERM to the master during pipelined load: every message sent before it is answered; exit 0', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 2, protocol: 'eof' }, mode: 'slow', busyMs: 2 });
    const n = 150;
    const clients = await Promise.all(Array.from({ length: 4 }, () => Client.open(port)));
    await Promise.all(clients.map((c) => servedBy(proc, c.socket.localPort!)));
    const sent = clients.map((_, k) => Array.from({ length: n }, (_, i) => `c${k}-m${i}\r\n`).join(''));
    await Promise.all(clients.map((c, k) => c.write(sent[k]))); // handed to the kernel
    await until(() => clients.some((c) => c.data.length > 0), 5000, 2); // work under way
    proc.kill('SIGTERM');
    for (const [k, c] of clients.entries()) {
      await c.waitBytes(sent[k].length, 10_000);
      expect(c.data.toString()).toBe(sent[k]);
    }
    await Promise.all(clients.map((c) => c.done)); // the server closes them once quiet
    for (const c of clients) expect(c.error).toBe(null);
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    for (const e of proc.events.filter((x) => x.ev === 'workerExit')) expect(e.code).toBe(0);
  }, 20_000);

  it('SIGUSR1 reload under keep-alive HTTP load: no failed request, every worker replaced, old ones exit 0', async () => {
    const { proc, port, workers } = await startFixture({ settings: { process_number: 2, protocol: 'http' }, mode: 'http' });
    const t: HttpTally = { ok: 0, bad: 0, lost: 0, errors: [], connections: 0, closes: 0 };
    let running = true;
    const loops = Array.from({ length: 4 }, () => httpLoop(port, () => running, t));
    await until(() => t.ok >= 200, 5000);
    const okBefore = t.ok;
    proc.kill('SIGUSR1');
    const fresh = () => proc.events.filter((e) => e.ev === 'workerStart' && !workers.includes(e.pid));
    const oldGone = () => workers.every((p) => proc.events.some((e) => e.ev === 'workerExit' && e.pid === p));
    expect(await until(() => fresh().length >= 2 && oldGone(), 10_000)).toBe(true);
    await sleep(300); // load on the new workers
    running = false;
    await Promise.all(loops);
    expect(t.errors).toEqual([]);
    expect(t.lost).toBe(0);
    expect(t.bad).toBe(0);
    expect(t.ok).toBeGreaterThan(okBefore + 50);
    expect(t.closes).toBeGreaterThan(0); // draining workers did send Connection: close
    // Every slot now runs a new pid; the old ones exited 0, and nothing else exited.
    const exits = proc.events.filter((e) => e.ev === 'workerExit');
    expect(exits.map((e) => e.pid).sort()).toEqual([...workers].sort());
    for (const e of exits) expect(e).toMatchObject({ code: 0, signal: null });
    const newPids = fresh().map((e) => e.pid);
    expect(new Set(newPids).size).toBe(2);
    expect(
      fresh()
        .map((e) => e.workerId)
        .sort(),
    ).toEqual([0, 1]);
    for (const p of newPids) expect(alive(p)).toBe(true);
    for (const p of workers) expect(alive(p)).toBe(false);
    expect(proc.events.filter((e) => e.ev === 'error')).toEqual([]);
    // Requests after the reload were served by the new pids only.
    // The connections still open (accepted, no close event) are all on the new pids.
    const id = (e: Event) => (e.remote as { id: string }).id;
    const closedIds = new Set(proc.events.filter((e) => e.ev === 'close').map(id));
    const open = proc.events.filter((e) => e.ev === 'accept' && !closedIds.has(id(e)));
    expect(open.length).toBeGreaterThan(0);
    for (const e of open) expect(newPids).toContain(e.pid);
  }, 30_000);

  it('max_request 50 with one worker: after 150 requests the worker was replaced, and no request failed', async () => {
    const { proc, port, workers } = await startFixture({
      settings: { process_number: 1, protocol: 'http', max_request: 50 },
      mode: 'http',
    });
    const t: HttpTally = { ok: 0, bad: 0, lost: 0, errors: [], connections: 0, closes: 0 };
    const total = 150;
    await httpLoop(port, () => t.ok + t.bad + t.lost < total, t);
    expect(t.errors).toEqual([]);
    expect(t.lost).toBe(0);
    expect(t.bad).toBe(0);
    expect(t.ok).toBe(total);
    // The first worker retired (limit 50..75 with its random grace), exited 0, and a new pid took over.
    const exit = await proc.waitEv('workerExit', 5000, (e) => e.pid === workers[0]);
    expect(exit).toMatchObject({ code: 0, signal: null });
    const next = proc.events.filter((e) => e.ev === 'workerStart' && e.pid !== workers[0]);
    expect(next.length).toBeGreaterThanOrEqual(1);
    expect(t.connections).toBeGreaterThanOrEqual(2); // told Connection: close, the client reconnected
    expect(proc.events.filter((e) => e.ev === 'error')).toEqual([]);
  }, 20_000);
});
