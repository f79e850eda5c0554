// Messaging across workers (issue 12): send() to a connection another worker
// serves, broadcast() from a worker and from the master, sendMessage() and the
// message event, the package_max_length bound, and the stats counters. Real
// processes (the fixture's `messaging` mode), real sockets on loopback, real
// signals; each behaviour with a sync and an async callback.
import { afterEach, describe, expect, it } from 'vitest';
import { Client, alive, cleanup, servedBy, startFixture, until, type Proc } from './helpers/proc.js';

afterEach(cleanup);

/** Complete lines a client has read so far. */
function lines(c: Client): string[] {
  const s = c.data.toString();
  return s
    .slice(0, s.lastIndexOf('\n') + 1)
    .split('\n')
    .slice(0, -1);
}
const acks = (c: Client) => lines(c).filter((l) => l.startsWith('ack '));
/** What reached the client other than the answers to its own commands. */
const got = (c: Client) => lines(c).filter((l) => !l.startsWith('ack '));

/** Sends one command line; resolves with its `ack` line ('closed' if the connection closed first). */
async function command(c: Client, line: string, ms = 5000): Promise<string> {
  const before = acks(c).length;
  await c.write(`${line}\r\n`);
  const answered = await until(() => acks(c).length > before || c.closed, ms, 2);
  if (!answered) throw new Error(`no ack for "${line.slice(0, 60)}" within ${ms} ms`);
  return acks(c)[before] ?? 'closed';
}

/** The connection id the server gave this client (from its accept event). */
async function idOf(proc: Proc, c: Client): Promise<string> {
  const e = await proc.waitEv('accept', 5000, (x) => (x.remote as { port: number }).port === c.socket.localPort);
  return (e.remote as { id: string }).id;
}

const workerIdOf = (proc: Proc, pid: number) => proc.events.find((e) => e.ev === 'role' && e.pid === pid)!.workerId as number;

/** Opens clients until every worker in `pids` serves at least `per` of them; the rest go to `extra`. */
async function clientsOn(
  proc: Proc,
  port: number,
  pids: number[],
  per: number,
  extra: Client[] = [],
): Promise<Map<number, Client[]>> {
  const on = new Map<number, Client[]>(pids.map((p) => [p, []]));
  for (let i = 0; i < 80 && [...on.values()].some((l) => l.length < per); i++) {
    const c = await Client.open(port);
    const pid = await servedBy(proc, c.socket.localPort!);
    const list = on.get(pid);
    if (list && list.length < per) list.push(c);
    else extra.push(c);
  }
  for (const [pid, list] of on) expect(list.length, `clients on ${pid}`).toBe(per);
  return on;
}

interface WorkerCounters {
  pid: number;
  worker: number;
  relayed: number;
  relay_gone: number;
  dropped: number;
}
interface Stats {
  total: { relayed: number; relay_gone: number; dropped: number };
  workers: WorkerCounters[];
}

/** server.stats() in the master (statsOnSignal: SIGUSR2 makes it log them). */
async function stats(proc: Proc): Promise<Stats> {
  const n = proc.count('stats');
  proc.kill('SIGUSR2');
  expect(await until(() => proc.count('stats') > n, 5000)).toBe(true);
  return proc.events.filter((e) => e.ev === 'stats')[n].stats as Stats;
}
const of = (s: Stats, pid: number) => s.workers.find((w) => w.pid === pid)!;

/** A client that sends `all <tag><i>` and waits for its ack, again and again, until stopped or closed. */
class BroadcastLoop {
  sent = 0;
  readonly answers: string[] = [];
  #stop = false;
  readonly done: Promise<void>;
  constructor(
    readonly client: Client,
    readonly tag: string,
  ) {
    this.done = this.#run();
  }
  async #run(): Promise<void> {
    while (!this.#stop && !this.client.closed && !this.client.error) {
      const a = await command(this.client, `all ${this.tag}${this.sent}`, 3000);
      this.sent++;
      if (a === 'closed') break;
      this.answers.push(a);
    }
  }
  stop(): Promise<void> {
    this.#stop = true;
    return this.done;
  }
}

/** The numbers of the lines `<tag><n>` a client received, in order. */
const seq = (c: Client, tag: string) =>
  got(c)
    .filter((l) => l.startsWith(tag) && /^\d+$/.test(l.slice(tag.length)))
    .map((l) => Number(l.slice(tag.length)));
/** Whether a list of numbers runs without gaps or repeats. */
const consecutive = (xs: number[]) => xs.every((x, i) => i === 0 || x === xs[i - 1] + 1);

const errors = (proc: Proc) => proc.events.filter((e) => e.ev === 'error');

describe.each([
  { name: 'sync', async: false },
  { name: 'async', async: true },
])('messaging across workers ($name callbacks)', ({ async }) => {
  const base = (more: Record<string, unknown> = {}, settings: Record<string, unknown> = {}) => ({
    settings: { process_number: 2, protocol: 'eof', ...settings },
    mode: 'messaging',
    statsOnSignal: true,
    masterActs: true,
    async,
    ...more,
  });

  it('send() to a connection on the other worker: 200 in a row arrive in order, each returned true; relayed counts them', async () => {
    const { proc, port, workers } = await startFixture(base());
    const on = await clientsOn(proc, port, workers, 1);
    const [pidA, pidB] = workers;
    const a = on.get(pidA)![0];
    const b = on.get(pidB)![0];
    const idB = await idOf(proc, b);
    expect(await command(b, 'id')).toBe(`ack id ${idB}`);
    expect(idB).toMatch(new RegExp(`^${workerIdOf(proc, pidB)}-${pidB}-\\d+$`));

    const n = 200;
    await a.write(Array.from({ length: n }, (_, i) => `to ${idB} m${i}\r\n`).join(''));
    expect(await until(() => acks(a).length >= n && got(b).length >= n, 10_000)).toBe(true);
    expect(acks(a)).toEqual(Array.from({ length: n }, () => 'ack to true'));
    expect(got(b)).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
    expect(got(a)).toEqual([]);

    // Bytes (a Uint8Array view into a larger buffer) arrive as they were, after the strings.
    const before = b.data.length;
    expect(await command(a, `to-bytes ${idB} ff00fe80`)).toBe('ack to-bytes true');
    expect(await until(() => b.data.length >= before + 5)).toBe(true);
    expect(b.data.subarray(before)).toEqual(Buffer.from('ff00fe800a', 'hex'));

    // Relayed: 201 on B (the messages came from A), none on A.
    const s = await stats(proc);
    expect(of(s, pidB)).toMatchObject({ relayed: n + 1, relay_gone: 0, dropped: 0 });
    expect(of(s, pidA)).toMatchObject({ relayed: 0, relay_gone: 0, dropped: 0 });
    expect(s.total).toMatchObject({ relayed: n + 1, relay_gone: 0, dropped: 0 });
    expect(errors(proc)).toEqual([]);
  });

  it('broadcast() from a worker reaches every connection of both workers once; except and only filter; from the master too', async () => {
    const { proc, port, workers } = await startFixture(base());
    const extra: Client[] = [];
    const on = await clientsOn(proc, port, workers, 3, extra);
    const [pidA, pidB] = workers;
    const [sender, a1, a2] = on.get(pidA)!;
    const onB = on.get(pidB)!;
    const all = [...on.values()].flat().concat(extra);
    const ids = new Map(await Promise.all(all.map(async (c) => [c, await idOf(proc, c)] as const)));
    /** Broadcasts a marker and waits until every client has it: whatever came before it has arrived too. */
    let marks = 0;
    const fence = async () => {
      const m = `mark${marks++}`;
      expect(await command(sender, `all ${m}`)).toBe('ack all true');
      expect(await until(() => all.every((c) => got(c).includes(m)))).toBe(true);
    };

    expect(await command(sender, 'all hello everyone')).toBe('ack all true');
    await fence();
    for (const c of all) expect(got(c).filter((l) => l === 'hello everyone')).toHaveLength(1);

    expect(await command(sender, 'all-except-me not-you')).toBe('ack all-except-me true');
    await fence();
    for (const c of all) expect(got(c).filter((l) => l === 'not-you')).toHaveLength(c === sender ? 0 : 1);

    const chosen = [a2, onB[1]];
    expect(await command(sender, `all-only ${chosen.map((c) => ids.get(c)).join(',')} only-you`)).toBe('ack all-only true');
    await fence();
    for (const c of all) expect(got(c).filter((l) => l === 'only-you')).toHaveLength(chosen.includes(c) ? 1 : 0);

    // From the master (a worker's message asks it to): every connection, the sender's included.
    expect(await command(a1, `msg -1 ${JSON.stringify({ do: 'broadcast', text: 'from-master' })}`)).toBe('ack msg true');
    expect(await until(() => all.every((c) => got(c).includes('from-master')))).toBe(true);
    expect((await proc.waitEv('masterDid', 5000, (e) => e.do === 'broadcast')).result).toBe(true);
    await fence();
    for (const c of all) expect(got(c).filter((l) => l === 'from-master')).toHaveLength(1);

    // relayed: on B every line its connections got (all from A or the master); on A only the master's.
    const s = await stats(proc);
    const servedByB = all.filter((c) =>
      proc.events.some((e) => e.ev === 'accept' && e.pid === pidB && e.remote && ids.get(c) === (e.remote as { id: string }).id),
    );
    const servedByA = all.filter((c) => !servedByB.includes(c));
    const count = (cs: Client[]) => cs.reduce((k, c) => k + got(c).length, 0);
    expect(of(s, pidB).relayed).toBe(count(servedByB));
    expect(of(s, pidA).relayed).toBe(servedByA.length); // from-master, once each
    expect(s.total.dropped).toBe(0);
    expect(errors(proc)).toEqual([]);
  });

  it('sendMessage(): worker to worker, worker to master (-1), master to worker; from says who sent; the master send()s to an id', async () => {
    const { proc, port, workers } = await startFixture(base());
    const on = await clientsOn(proc, port, workers, 1);
    const [pidA, pidB] = workers;
    const a = on.get(pidA)![0];
    const b = on.get(pidB)![0];
    const wA = workerIdOf(proc, pidA);
    const wB = workerIdOf(proc, pidB);
    const message = (pid: number, tag: string) =>
      proc.waitEv('message', 5000, (e) => e.pid === pid && (e.data as { tag?: string })?.tag === tag);

    expect(await command(a, `msg ${wB} ${JSON.stringify({ tag: 'w2w', list: [1, 'two', null], n: 1.5 })}`)).toBe('ack msg true');
    expect(await message(pidB, 'w2w')).toMatchObject({
      data: { tag: 'w2w', list: [1, 'two', null], n: 1.5 },
      from: wA,
      workerId: wB,
    });

    expect(await command(b, `msg -1 ${JSON.stringify({ tag: 'w2m' })}`)).toBe('ack msg true');
    expect(await message(proc.pid, 'w2m')).toMatchObject({ data: { tag: 'w2m' }, from: wB, workerId: null });

    // The master, asked by A, sends to B: from is -1.
    const ask = { do: 'sendMessage', to: wB, data: { tag: 'm2w' } };
    expect(await command(a, `msg -1 ${JSON.stringify(ask)}`)).toBe('ack msg true');
    expect(await message(pidB, 'm2w')).toMatchObject({ data: { tag: 'm2w' }, from: -1, workerId: wB });
    expect((await proc.waitEv('masterDid', 5000, (e) => e.do === 'sendMessage')).result).toBe(true);

    // A worker to itself: the event runs there, from its own id.
    expect(await command(a, `msg ${wA} ${JSON.stringify({ tag: 'self' })}`)).toBe('ack msg true');
    expect(await message(pidA, 'self')).toMatchObject({ from: wA, workerId: wA });

    // The master's send() to a connection id.
    const idB = await idOf(proc, b);
    expect(await command(a, `msg -1 ${JSON.stringify({ do: 'send', id: idB, text: 'hi from the master' })}`)).toBe(
      'ack msg true',
    );
    expect(await until(() => got(b).includes('hi from the master'))).toBe(true);
    expect((await proc.waitEv('masterDid', 5000, (e) => e.do === 'send')).result).toBe(true);

    // Each message arrived once, and only where it was sent.
    const messages = proc.events.filter((e) => e.ev === 'message');
    expect(messages.map((e) => [(e.data as { tag?: string }).tag ?? (e.data as { do: string }).do, e.pid])).toEqual([
      ['w2w', pidB],
      ['w2m', proc.pid],
      ['sendMessage', proc.pid],
      ['m2w', pidB],
      ['self', pidA],
      ['send', proc.pid],
    ]);
    expect(got(a)).toEqual([]);
    expect(errors(proc)).toEqual([]);
  });

  it('send() to a closed id: on the other worker true, and counted there in relay_gone; on the same worker false', async () => {
    const { proc, port, workers } = await startFixture(base());
    const on = await clientsOn(proc, port, workers, 2);
    const [pidA, pidB] = workers;
    const [a, a2] = on.get(pidA)!;
    const [b, b2] = on.get(pidB)!;
    const idA2 = await idOf(proc, a2);
    const idB2 = await idOf(proc, b2);
    for (const c of [a2, b2]) c.end();
    for (const id of [idA2, idB2]) await proc.waitEv('close', 5000, (e) => (e.remote as { id: string }).id === id);

    expect(await command(a, `to ${idB2} too-late`)).toBe('ack to true');
    expect(await command(a, `to ${idA2} too-late`)).toBe('ack to false');
    // An open connection on B still gets what follows, so the relay before it has been handled there.
    expect(await command(a, `to ${await idOf(proc, b)} after`)).toBe('ack to true');
    expect(await until(() => got(b).includes('after'))).toBe(true);

    const s = await stats(proc);
    expect(of(s, pidB).relay_gone).toBe(1);
    expect(of(s, pidA)).toMatchObject({ relay_gone: 0, relayed: 0 });
    expect(s.total.relay_gone).toBe(1);
    expect(got(b)).toEqual(['after']);
    expect(errors(proc)).toEqual([]);
    // relayed is one per connection written (README): 'after' was, 'too-late' was not.
    expect(of(s, pidB).relayed, 'relayed counts the message for the gone connection').toBe(1);
  });

  it('a message past package_max_length for another process throws ERR_MESSAGE_TOO_LARGE and is not delivered; the worker goes on', async () => {
    const { proc, port, workers } = await startFixture(base({}, { package_max_length: 4096 }));
    const on = await clientsOn(proc, port, workers, 2);
    const [pidA, pidB] = workers;
    const [a, a2] = on.get(pidA)!;
    const [b] = on.get(pidB)!;
    const idB = await idOf(proc, b);
    const wB = workerIdOf(proc, pidB);
    const tooLarge = 'err ERR_MESSAGE_TOO_LARGE';

    expect(await command(a, `to ${idB} fill:5000`)).toBe(`ack to ${tooLarge}`);
    expect(await command(a, 'all fill:5000')).toBe(`ack all ${tooLarge}`);
    expect(await command(a, `all-except-me fill:5000`)).toBe(`ack all-except-me ${tooLarge}`);
    expect(await command(a, `msg ${wB} fill:5000`)).toBe(`ack msg ${tooLarge}`);
    expect(await command(a, `msg -1 ${JSON.stringify({ do: 'broadcast', text: 'fill:5000' })}`)).toBe('ack msg true');
    expect((await proc.waitEv('masterDid', 5000, (e) => e.do === 'broadcast')).code).toBe('ERR_MESSAGE_TOO_LARGE');
    expect(await command(a, `msg -1 ${JSON.stringify({ do: 'send', id: idB, text: 'fill:5000' })}`)).toBe('ack msg true');
    expect((await proc.waitEv('masterDid', 5000, (e) => e.do === 'send')).code).toBe('ERR_MESSAGE_TOO_LARGE');
    // A connection of the same worker is no other process: no bound.
    expect(await command(a, `to ${await idOf(proc, a2)} fill:5000`)).toBe('ack to true');

    // The worker goes on: small ones pass, and are all that B's client and the message event saw.
    expect(await command(a, `to ${idB} small`)).toBe('ack to true');
    expect(await command(a, 'all-except-me fence')).toBe('ack all-except-me true');
    expect(await until(() => got(b).includes('fence') && got(a2).includes('fence'))).toBe(true);
    expect(got(b)).toEqual(['small', 'fence']);
    expect(got(a2)).toEqual(['f'.repeat(5000), 'fence']);
    expect(got(a)).toEqual([]);
    expect(proc.events.filter((e) => e.ev === 'message' && typeof e.data === 'string')).toEqual([]);
    expect(errors(proc)).toEqual([]);
    for (const pid of [...workers, proc.pid]) expect(alive(pid)).toBe(true);
  });

  it('a broadcast to a connection whose reply queue is full is skipped and counted in dropped; what was not dropped arrives whole', async () => {
    const { proc, port, workers } = await startFixture(base({}, { socket_buffer_size: 65536 }));
    const on = await clientsOn(proc, port, workers, 1);
    const [pidA, pidB] = workers;
    const a = on.get(pidA)![0];
    const v = on.get(pidB)![0];
    v.socket.pause(); // reads nothing: the kernel's buffers fill, then B's reply queue
    const idV = await idOf(proc, v); // only v: a client opened to find the workers may be on B too
    const n = 200;
    const size = 65536;
    const whole = (k: number) => k * (size + 1);
    // The broadcasts, then a message to B on the same channels: once B has it, B has handled every broadcast.
    const fence = `msg ${workerIdOf(proc, pidB)} ${JSON.stringify({ tag: 'fence' })}`;
    await a.write(`${Array.from({ length: n }, () => `all-only ${idV} fill:${size}\r\n`).join('')}${fence}\r\n`);
    expect(await until(() => acks(a).length > n, 20_000)).toBe(true);
    expect(acks(a)).toEqual([...Array.from({ length: n }, () => 'ack all-only true'), 'ack msg true']);
    await proc.waitEv('message', 10_000, (e) => e.pid === pidB && (e.data as { tag?: string }).tag === 'fence');
    const s = await stats(proc);
    const { relayed, dropped } = of(s, pidB);
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(n);
    expect(s.total.dropped).toBe(dropped);
    v.socket.resume();
    expect(await until(() => v.data.length >= whole(n - dropped), 10_000)).toBe(true);
    // What v got is whole messages, never a piece of one, and nothing more.
    expect(v.data.length).toBe(whole(n - dropped));
    expect(new Set(got(v))).toEqual(new Set(['f'.repeat(size)]));
    // relayed is one per connection written (README): the dropped ones were not.
    expect(relayed, 'relayed counts the broadcasts dropped for a full queue').toBe(n - dropped);
  }, 40_000);

  it('sendMessage() to a worker id that does not exist returns false and delivers nothing (from a worker and from the master)', async () => {
    const { proc, port, workers } = await startFixture(base());
    const on = await clientsOn(proc, port, workers, 1);
    const a = on.get(workers[0])![0];
    expect(await command(a, `msg -1 ${JSON.stringify({ do: 'sendMessage', to: 7, data: { tag: 'nobody' } })}`)).toBe(
      'ack msg true',
    );
    expect((await proc.waitEv('masterDid', 5000, (e) => e.do === 'sendMessage')).result).toBe(false);
    // A worker cannot ask the master synchronously, but it knows process_number (2): worker 7 never exists.
    expect(await command(a, `msg 7 ${JSON.stringify({ tag: 'nobody' })}`)).toBe('ack msg false');
    expect(proc.events.filter((e) => e.ev === 'message' && (e.data as { tag?: string }).tag === 'nobody')).toEqual([]);
  });

  it('reload_handover: a connection moved to a new worker (same id) is still reached by send() from another worker and from the master', async () => {
    const { proc, port, workers } = await startFixture(base({ handover: true }, { reload_handover: true, max_wait_time: 5 }));
    const on = await clientsOn(proc, port, workers, 1);
    const a = on.get(workers[0])![0];
    const b = on.get(workers[1])![0];
    const idA = await idOf(proc, a);
    const idB = await idOf(proc, b);
    expect(await command(a, `to ${idB} before`)).toBe('ack to true');
    expect(await until(() => got(b).includes('before'))).toBe(true);

    proc.kill('SIGUSR1');
    const adopted = (id: string) => proc.events.some((e) => e.ev === 'adopt' && (e.remote as { id: string }).id === id);
    const oldGone = () => workers.every((p) => proc.events.some((e) => e.ev === 'workerExit' && e.pid === p));
    expect(await until(() => adopted(idA) && adopted(idB) && oldGone(), 10_000)).toBe(true);
    expect([a.closed, b.closed]).toEqual([false, false]);
    const newB = proc.events.find((e) => e.ev === 'adopt' && (e.remote as { id: string }).id === idB)!.pid;
    expect(newB).not.toBe(workers[1]);

    // A broadcast reaches the moved connection (every worker gets it) ...
    expect(await command(a, 'all-except-me moved-broadcast')).toBe('ack all-except-me true');
    expect(await until(() => got(b).includes('moved-broadcast'))).toBe(true);
    // ... and so must a send to its id, which still names the old worker's pid.
    expect(await command(a, `to ${idB} moved-send`)).toBe('ack to true');
    expect(await command(a, `msg -1 ${JSON.stringify({ do: 'send', id: idB, text: 'moved-master-send' })}`)).toBe('ack msg true');
    expect(await command(a, 'all-except-me fence')).toBe('ack all-except-me true');
    expect(await until(() => got(b).includes('fence') && got(b).includes('moved-master-send'))).toBe(true);
    // The master acts on its message in its own callback (after an await with async handlers), so
    // its send is not ordered with A's fence; A's own messages to B are.
    expect(got(b).filter((x) => x !== 'moved-master-send')).toEqual(['before', 'moved-broadcast', 'moved-send', 'fence']);
    expect(got(b).filter((x) => x === 'moved-master-send')).toHaveLength(1);
  });

  it('SIGKILL to the other worker during a broadcast loop: the survivor keeps serving and acknowledging, the master respawns it', async () => {
    const { proc, port, workers } = await startFixture(base());
    const on = await clientsOn(proc, port, workers, 2);
    const [pidA, victim] = workers;
    const [sender, listener] = on.get(pidA)!;
    const onVictim = on.get(victim)!;
    const loop = new BroadcastLoop(sender, 'b');
    expect(await until(() => seq(onVictim[0], 'b').length >= 30, 5000)).toBe(true);

    process.kill(victim, 'SIGKILL');
    const exit = await proc.waitEv('workerExit', 5000, (e) => e.pid === victim);
    expect(exit).toMatchObject({ signal: 'SIGKILL' });
    const atExit = loop.answers.length;
    const replacement = await proc.waitEv('workerStart', 5000, (e) => e.pid !== victim && !workers.includes(e.pid));
    expect(replacement.workerId).toBe(exit.workerId);
    // Acknowledgements kept coming while the victim was gone and after.
    expect(await until(() => loop.answers.length >= atExit + 50, 5000)).toBe(true);
    // The victim's clients saw their connections end.
    expect(await until(() => onVictim.every((c) => c.closed), 2000)).toBe(true);

    // A connection on the replacement gets the broadcasts too.
    let fresh: Client | null = null;
    for (let i = 0; i < 40 && fresh === null; i++) {
      const c = await Client.open(port);
      if ((await servedBy(proc, c.socket.localPort!)) === replacement.pid) fresh = c;
    }
    expect(fresh).not.toBe(null);
    expect(await until(() => seq(fresh!, 'b').length >= 20, 5000)).toBe(true);
    await loop.stop();

    expect(new Set(loop.answers)).toEqual(new Set(['ack all true']));
    expect(sender.closed).toBe(false);
    // The survivor's other connection got every broadcast, in order, once.
    const heard = seq(listener, 'b');
    expect(heard.length).toBe(loop.sent);
    expect(consecutive(heard)).toBe(true);
    expect(consecutive(seq(fresh!, 'b'))).toBe(true);
    expect(errors(proc).map((e) => e.code)).toEqual(['ERR_WORKER_EXIT']);
    expect(alive(proc.pid)).toBe(true);
  });

  it("SIGUSR1 reload during broadcast loops (a client and the master): the new workers' connections receive them; no error; the master stays up", async () => {
    const { proc, port, workers } = await startFixture(base({ masterTickMs: 20 }, { max_wait_time: 1 }));
    const on = await clientsOn(proc, port, workers, 1);
    const [pidA, pidB] = workers;
    const sender = on.get(pidA)![0];
    const old = on.get(pidB)![0];
    const loop = new BroadcastLoop(sender, 'r');
    expect(await until(() => seq(old, 'r').length >= 20 && seq(old, 'tick ').length >= 5, 5000)).toBe(true);

    proc.kill('SIGUSR1');
    const fresh = () => proc.events.filter((e) => e.ev === 'workerStart' && !workers.includes(e.pid)).map((e) => e.pid);
    const oldGone = () => workers.every((p) => proc.events.some((e) => e.ev === 'workerExit' && e.pid === p));
    expect(await until(() => fresh().length >= 2 && oldGone(), 10_000)).toBe(true);
    // The old worker closed the looping client at its drain deadline; the loop ended, it did not hang.
    expect(await until(() => sender.closed, 3000)).toBe(true);
    await loop.done;
    expect(loop.answers.length).toBeGreaterThan(20);
    expect(new Set(loop.answers)).toEqual(new Set(['ack all true']));

    const newPids = fresh();
    const onNew = await clientsOn(proc, port, newPids, 1);
    const [c1, c2] = newPids.map((p) => onNew.get(p)![0]);
    const loop2 = new BroadcastLoop(c1, 'n');
    // c2, on the other new worker, gets c1's broadcasts and the master's ticks.
    expect(await until(() => seq(c2, 'n').length >= 20 && seq(c2, 'tick ').length >= 5, 5000)).toBe(true);
    expect(await until(() => seq(c1, 'tick ').length >= 5, 5000)).toBe(true);
    await loop2.stop();
    const heard = seq(c2, 'n');
    expect(heard[0]).toBe(0);
    expect(consecutive(heard)).toBe(true);
    expect(consecutive(seq(c2, 'tick '))).toBe(true);

    expect(errors(proc)).toEqual([]);
    expect(proc.events.filter((e) => e.ev === 'tickError')).toEqual([]);
    for (const e of proc.events.filter((x) => x.ev === 'workerExit')) expect(e).toMatchObject({ code: 0, signal: null });
    expect(alive(proc.pid)).toBe(true);
    for (const p of newPids) expect(alive(p)).toBe(true);
  });
});
