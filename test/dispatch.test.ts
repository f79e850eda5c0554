// dispatch_mode through real processes and sockets: how connections spread
// over the workers, one worker accepting directly, and no first bytes lost
// when a socket travels through the master.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Client, cleanup, servedBy, sleep, startFixture, until, type Proc } from './helpers/proc.js';

afterEach(cleanup);

type Mode = 'shared' | 'round_robin' | 'hybrid';

/** Inode of the socket listening on 127.0.0.1:port (from /proc/net/tcp), or 0. */
function listenInode(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === `0100007F:${hexPort}` && f[3] === '0A') return Number(f[9]);
  }
  return 0;
}

/** Whether the process has a file descriptor on that socket inode. */
function holdsSocket(pid: number, inode: number): boolean {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return true;
    } catch {
      /* closed meanwhile */
    }
  }
  return false;
}

/** How many socket descriptors the process holds. */
function socketFds(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

/** Opens n connections at once; each writes a line as soon as it connects and waits for its echo. */
async function burst(port: number, n: number, body = ''): Promise<{ clients: Client[]; echoed: number; wrong: string[] }> {
  const clients = Array.from({ length: n }, () => new Client(port));
  const msgs = clients.map((_, i) => `first-${i}-${body}\r\n`);
  // Written before the handshake completes: node sends it right after connect.
  clients.forEach((c, i) => {
    c.socket.write(msgs[i]);
  });
  await Promise.all(clients.map((c, i) => c.waitBytes(msgs[i].length, 10_000)));
  const wrong: string[] = [];
  let echoed = 0;
  clients.forEach((c, i) => {
    if (c.data.toString() === msgs[i]) echoed++;
    else wrong.push(`${i}: ${JSON.stringify(c.data.toString().slice(0, 40))} closed=${c.closed} err=${c.error?.message}`);
  });
  return { clients, echoed, wrong };
}

function acceptsByPid(proc: Proc, pids: number[]): number[] {
  return pids.map((p) => proc.events.filter((e) => e.ev === 'accept' && e.pid === p).length);
}

/** Keeps one worker busy for about 1 s (mode 'slow', 2 ms per message): it does not get to accept() meanwhile. */
async function busyOne(proc: Proc, port: number): Promise<{ hog: Client; hogPid: number; work: string }> {
  const hog = await Client.open(port);
  const hogPid = await servedBy(proc, hog.socket.localPort!);
  const work = Array.from({ length: 500 }, (_, i) => `hog-${i}\r\n`).join('');
  await hog.write(work); // one chunk, replies flushed at the end
  await sleep(30);
  return { hog, hogPid, work };
}

/**
 * 200 long-lived connections opened at once while one worker is kept busy by
 * a hog client (mode 'slow': 2 ms per message), which skews what the kernel
 * hands out: a busy worker does not get to accept().
 */
async function spread(mode: Mode | undefined): Promise<{ counts: number[]; proc: Proc; workers: number[]; port: number }> {
  const settings: Record<string, unknown> = { process_number: 2, protocol: 'eof' };
  if (mode) settings.dispatch_mode = mode;
  const { proc, port, workers } = await startFixture({ settings, mode: 'slow', busyMs: 2 });
  const { hog, hogPid, work } = await busyOne(proc, port);
  const { clients, echoed, wrong } = await burst(port, 200);
  expect(wrong).toEqual([]);
  expect(echoed).toBe(200);
  await until(() => proc.count('accept') >= 201, 5000);
  const all = acceptsByPid(proc, workers);
  expect(all.reduce((a, b) => a + b, 0)).toBe(201);
  // The hog's connection is not one of the 200.
  const counts = workers.map((p, i) => all[i] - (p === hogPid ? 1 : 0));
  // Long-lived: all still open.
  for (const c of clients) expect([c.closed, c.error]).toEqual([false, null]);
  expect((await hog.waitBytes(work.length, 10_000)).toString()).toBe(work);
  return { counts, proc, workers, port };
}

describe('balance across 2 workers (200 long-lived connections, one worker busy)', () => {
  it('hybrid (the default): busiest / idlest <= 1.25', async () => {
    const { counts } = await spread(undefined);
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts) / Math.min(...counts), `split ${counts.join('/')}`).toBeLessThanOrEqual(1.25);
  }, 20_000);

  it('round_robin: busiest / idlest <= 1.25, and the workers never hold the listening socket', async () => {
    const { counts, workers, port, proc } = await spread('round_robin');
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts) / Math.min(...counts), `split ${counts.join('/')}`).toBeLessThanOrEqual(1.25);
    const inode = listenInode(port);
    expect(inode).toBeGreaterThan(0);
    expect(holdsSocket(proc.pid, inode)).toBe(true);
    for (const w of workers) expect(holdsSocket(w, inode)).toBe(false);
  }, 20_000);

  it('shared: every connection served; the split is recorded, not asserted', async () => {
    const { counts, workers, port } = await spread('shared');
    console.log(`shared split: ${counts.join('/')}`);
    const inode = listenInode(port);
    for (const w of workers) expect(holdsSocket(w, inode)).toBe(true);
  }, 20_000);
});

describe('one worker accepts directly in every mode', () => {
  for (const mode of ['shared', 'round_robin', 'hybrid'] as Mode[]) {
    it(`process_number 1, dispatch_mode ${mode}: the worker holds the listening socket and serves`, async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 1, protocol: 'eof', dispatch_mode: mode },
      });
      expect(workers).toHaveLength(1);
      const inode = listenInode(port);
      expect(inode).toBeGreaterThan(0);
      expect(holdsSocket(workers[0], inode)).toBe(true);
      const { clients, echoed, wrong } = await burst(port, 20);
      expect(wrong).toEqual([]);
      expect(echoed).toBe(20);
      await until(() => proc.count('accept') >= 20, 5000);
      expect(proc.events.filter((e) => e.ev === 'accept').every((e) => e.pid === workers[0])).toBe(true);
      for (const c of clients) c.destroy();
      expect(proc.count('error')).toBe(0);
    }, 15_000);
  }
});

describe('no lost first bytes when a socket is dispatched', () => {
  for (const mode of ['round_robin', 'hybrid'] as Mode[]) {
    it(`${mode}: 300 connections each writing at once all get their echo (one worker busy, so hybrid hands sockets on)`, async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 2, protocol: 'eof', dispatch_mode: mode },
        mode: 'slow',
        busyMs: 2,
      });
      const { hog, hogPid, work } = await busyOne(proc, port);
      const { clients, echoed, wrong } = await burst(port, 300, 'y'.repeat(200));
      expect(wrong).toEqual([]);
      expect(echoed).toBe(300);
      await until(() => proc.count('accept') >= 301, 5000);
      expect(proc.count('accept')).toBe(301);
      // The busy worker got its share, so sockets did travel (through the master, or handed on by its sibling).
      const onHog = proc.events.filter((e) => e.ev === 'accept' && e.pid === hogPid).length - 1;
      expect(onHog, `on the busy worker: ${onHog}`).toBeGreaterThan(100);
      expect(workers).toContain(hogPid);
      expect((await hog.waitBytes(work.length, 10_000)).toString()).toBe(work);
      for (const c of clients) c.destroy();
      expect(proc.count('error')).toBe(0);
    }, 20_000);
  }
});

describe('descriptors after dispatch', () => {
  for (const mode of ['round_robin', 'hybrid'] as Mode[]) {
    it(`${mode}: once the clients close, no socket descriptor is left in the master or the workers`, async () => {
      const { proc, port, workers } = await startFixture({
        settings: { process_number: 2, protocol: 'eof', dispatch_mode: mode },
        mode: 'slow',
        busyMs: 2,
      });
      const pids = [proc.pid, ...workers];
      const base = pids.map(socketFds);
      const { hog, hogPid, work } = await busyOne(proc, port);
      const { clients, echoed } = await burst(port, 100);
      expect(echoed).toBe(100);
      await hog.waitBytes(work.length, 10_000);
      // Sockets did travel: the busy worker got a share it could not accept() itself.
      expect(proc.events.filter((e) => e.ev === 'accept' && e.pid === hogPid).length).toBeGreaterThan(30);
      for (const c of [...clients, hog]) c.destroy();
      await until(() => proc.count('close') >= 101, 5000);
      const settled = await until(() => pids.every((p, i) => socketFds(p) <= base[i]), 3000, 50);
      const now = pids.map(socketFds);
      expect(settled, `socket fds (master, workers) before ${base.join('/')}, after ${now.join('/')}`).toBe(true);
    }, 20_000);
  }
});
