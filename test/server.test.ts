// The server through real processes, real sockets on loopback and real signals.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Server, type EventName } from '../src/index.js';
import { Client, alive, childrenOf, cleanup, sleep, startFixture, until } from './helpers/proc.js';

afterEach(cleanup);

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ').trim();

describe('Server API in the calling process (no run)', () => {
  it('knows its role at construction', () => {
    const s = new Server('127.0.0.1', 0);
    expect(s.isMaster).toBe(true);
    expect(s.isWorker).toBe(false);
    expect(s.workerId).toBe(null);
  });

  it('get/set: ip and port, defaults, validation', () => {
    const s = new Server('::1', 9502);
    expect(s.get('ip')).toBe('::1');
    expect(s.get('port')).toBe(9502);
    const all = s.get();
    expect(all.protocol).toBe('raw');
    expect(all.process_number).toBeGreaterThanOrEqual(1);
    expect(all.max_wait_time).toBe(3);
    s.set('custom', { a: [1, 2] }, { custom: true });
    expect(s.get('custom')).toEqual({ a: [1, 2] });
    expect(() => s.set('protocol', 'udp' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_SETTING', key: 'protocol' }),
    );
    expect(() => s.set('ip', 'localhost')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SETTING' }));
    expect(() => new Server('999.1.1.1', 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SETTING' }));
    expect(() => new Server('127.0.0.1', 70000)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SETTING', key: 'port' }));
  });

  it('two Servers in one process keep their own settings', () => {
    const a = new Server('127.0.0.1', 9601);
    a.set('protocol', 'eof').set('package_eof', '|').set('mine', 1, { custom: true });
    const b = new Server('::1', 9602);
    // constructing b left a alone (it once reset the one process-wide store)
    expect(a.get('ip')).toBe('127.0.0.1');
    expect(a.get('port')).toBe(9601);
    expect(a.get('protocol')).toBe('eof');
    expect(a.get('package_eof')).toBe('|');
    expect(a.get('mine')).toBe(1);
    expect(b.get('ip')).toBe('::1');
    expect(b.get('port')).toBe(9602);
    expect(b.get('protocol')).toBe('raw');
    expect(b.get('package_eof')).toBe('\r\n');
    expect(b.get('mine')).toBeUndefined();
    expect(b.get('process_number')).toBe(a.get('process_number'));
    expect(b.get('max_conn')).toBe(a.get('max_conn'));
    b.set('protocol', 'http').set('max_wait_time', 1);
    expect(a.get('protocol')).toBe('eof');
    expect(a.get('max_wait_time')).toBe(3);
  });

  it('bind/on accept every event and refuse unknown ones', () => {
    const s = new Server('127.0.0.1', 0);
    for (const ev of <EventName[]>[
      'accept',
      'receive',
      'close',
      'start',
      'shutdown',
      'workerStart',
      'workerStop',
      'workerExit',
      'error',
      'bufferFull',
      'bufferDrain',
    ]) {
      expect(s.bind(ev, () => {})).toBe(s);
      expect(s.on(ev, () => {})).toBe(s);
    }
    // Not allowed by the types either (test/types.test.ts); checked at run time for JavaScript callers.
    const untyped = (f: unknown) => f as (event: string, fn: () => void) => Server;
    expect(() => untyped(s.bind).call(s, 'connect', () => {})).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_EVENT' }));
    expect(() => untyped(s.on).call(s, 'data', () => {})).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_EVENT' }));
  });

  it('send/close with no connection', () => {
    const s = new Server('127.0.0.1', 0);
    expect(() => s.send('x')).toThrow(expect.objectContaining({ code: 'ERR_NO_CONNECTION' }));
    expect(() => s.close()).toThrow(expect.objectContaining({ code: 'ERR_NO_CONNECTION' }));
    expect(s.send('x', 'nope')).toBe(false);
    expect(s.close({ ip: '1.2.3.4', port: 1, id: 'nope' })).toBe(false);
  });
});

describe('a running server', () => {
  it('forks process_number workers that see the master settings; API errors inside workers', async () => {
    const { proc, port, workers } = await startFixture({
      settings: { process_number: 2, protocol: 'eof', custom_key: 'hello' },
      apiProbe: true,
    });
    expect(port).toBeGreaterThan(0);
    expect(workers).toHaveLength(2);
    const start = proc.events.find((e) => e.ev === 'start')!;
    expect(start.address).toBe('127.0.0.1');
    expect(start.setWhileRunning).toBe('ERR_SERVER_RUNNING');
    expect(start.getPort).toBe(port);
    const roles = proc.events.filter((e) => e.ev === 'role');
    expect(roles.find((e) => e.pid === proc.pid)).toMatchObject({ isMaster: true, isWorker: false, workerId: null });
    for (const [i, pid] of workers.entries()) {
      expect(roles.find((e) => e.pid === pid)).toMatchObject({ isMaster: false, isWorker: true });
      expect(roles.find((e) => e.pid === pid)!.workerId).toBeTypeOf('number');
      void i;
    }
    const probes = proc.events.filter((e) => e.ev === 'probe');
    for (const p of probes) {
      const probe = p.probe as Record<string, { ok: boolean; code?: string; value?: unknown }>;
      expect(probe.unknownEvent.code).toBe('ERR_UNKNOWN_EVENT');
      expect(probe.sendOutside.code).toBe('ERR_NO_CONNECTION');
      expect(probe.closeOutside.code).toBe('ERR_NO_CONNECTION');
      expect(probe.sendToGone).toEqual({ ok: true, value: false });
      expect(probe.badSetting.code).toBe('ERR_INVALID_SETTING');
      expect(probe.getIp.value).toBe('127.0.0.1');
    }
    // eof framing came from the master's store: one reply per line.
    const c = await Client.open(port);
    await c.write('a\r\nb\r\n');
    expect((await c.waitBytes(6)).toString()).toBe('a\r\nb\r\n');
    c.destroy();
    await proc.waitEv('workerStart');
    expect(proc.count('workerStart')).toBe(2);
  });

  it('runs accept, receive and close with the right ip, port and id', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 2 }, logReceive: true, logData: true });
    const c = await Client.open(port);
    const local = { ip: c.socket.localAddress, port: c.socket.localPort };
    await c.write('hello');
    expect((await c.waitBytes(5)).toString()).toBe('hello');
    const acc = await proc.waitEv('accept', 5000, (e) => (e.remote as { port: number }).port === local.port);
    const rec = await proc.waitEv('receive', 5000, (e) => (e.remote as { port: number }).port === local.port);
    expect(acc.remote).toMatchObject({ ip: local.ip, port: local.port });
    expect(rec.remote).toMatchObject({ ip: local.ip, port: local.port });
    expect(Buffer.from(rec.data as string, 'base64').toString()).toBe('hello');
    expect(rec.isBuffer).toBe(true);
    const id = (acc.remote as { id: string }).id;
    expect(id).toMatch(new RegExp(`^\\d+-${acc.pid}-\\d+$`));
    c.end();
    const cl = await proc.waitEv('close', 5000, (e) => (e.remote as { id: string }).id === id);
    expect(cl.pid).toBe(acc.pid);
    expect(proc.count('close')).toBe(1);
    // ids are unique across workers
    const clients = await Promise.all(Array.from({ length: 8 }, () => Client.open(port)));
    await until(() => proc.count('accept') >= 9);
    const ids = proc.events.filter((e) => e.ev === 'accept').map((e) => (e.remote as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const k of clients) k.destroy();
  });

  it('remote.ip/port are right when read lazily (no close or error callback bound), also as JSON', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 1 }, lean: true, logReceive: true });
    const c = await Client.open(port);
    await c.write('hi');
    await c.waitBytes(2);
    const rec = await proc.waitEv('receive');
    expect(rec.remote).toMatchObject({ ip: c.socket.localAddress, port: c.socket.localPort });
    expect(Object.keys(rec.remote as object).sort()).toEqual(['id', 'ip', 'port']);
    c.destroy();
  });

  it('send(message, remote) works later from async code and returns false once the connection is gone', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 1 }, mode: 'echo-async', delay: 400 });
    const c = await Client.open(port);
    await c.write('later');
    expect((await c.waitBytes(5)).toString()).toBe('later');
    expect((await proc.waitEv('late')).ok).toBe(true);
    await c.write('gone');
    c.destroy();
    await proc.waitEv('close');
    await until(() => proc.count('late') >= 2);
    expect(proc.events.filter((e) => e.ev === 'late')[1].ok).toBe(false);
  });

  it('send() without a target inside accept greets that connection', async () => {
    const { port } = await startFixture({ settings: { process_number: 1 }, greet: 'welcome\n' });
    const c = await Client.open(port);
    expect((await c.waitBytes(8)).toString()).toBe('welcome\n');
    await c.write('x');
    expect((await c.waitBytes(9)).toString()).toBe('welcome\nx');
    c.destroy();
  });

  it('close() from a callback flushes the reply, then closes once', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 1, protocol: 'eof' }, mode: 'close' });
    const c = await Client.open(port);
    await c.write('hi\r\nbye\r\nafter\r\n');
    await c.done;
    expect(c.data.toString()).toBe('hi\r\nbye\r\n');
    expect(c.error).toBe(null);
    await proc.waitEv('close');
    await sleep(100);
    expect(proc.count('close')).toBe(1);
  });

  it('a callback that throws costs its connection only', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 1, protocol: 'eof' }, mode: 'throw' });
    const good = await Client.open(port);
    const bad = await Client.open(port);
    await bad.write('boom\r\n');
    await bad.done;
    const err = await proc.waitEv('error');
    expect(err.code).toBe('ERR_CALLBACK');
    await good.write('still\r\n');
    expect((await good.waitBytes(7)).toString()).toBe('still\r\n');
    expect(proc.count('workerExit')).toBe(0);
  });

  it('frames through real sockets with writes split at random points', async () => {
    const { proc, port } = await startFixture({
      settings: {
        process_number: 2,
        protocol: 'length',
        package_length_type: 'n',
        package_length_offset: 0,
        package_body_offset: 2,
      },
      logReceive: true,
      logData: true,
    });
    const frames: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const body = Buffer.alloc(1 + Math.floor(Math.random() * 300), i % 256);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(body.length);
      frames.push(Buffer.concat([head, body]));
    }
    const stream = Buffer.concat(frames);
    const c = await Client.open(port);
    c.socket.setNoDelay(true);
    let pos = 0;
    while (pos < stream.length) {
      const n = 1 + Math.floor(Math.random() * 97);
      await c.write(stream.subarray(pos, pos + n));
      pos += n;
      if (Math.random() < 0.2) await sleep(1);
    }
    expect((await c.waitBytes(stream.length)).equals(stream)).toBe(true);
    const got = proc.events.filter((e) => e.ev === 'receive').map((e) => Buffer.from(e.data as string, 'base64'));
    expect(got.length).toBe(frames.length);
    for (let i = 0; i < frames.length; i++) expect(got[i].equals(frames[i])).toBe(true);
    c.destroy();
  });

  it('an oversized frame closes that connection with ERR_FRAME_TOO_LARGE; the others go on', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 1, protocol: 'eof', package_max_length: 1024 } });
    const good = await Client.open(port);
    const bad = await Client.open(port);
    await good.write('one\r\n');
    await good.waitBytes(5);
    await bad.write('ok\r\n' + 'x'.repeat(4096));
    await bad.done;
    expect(bad.data.toString()).toBe('ok\r\n');
    const err = await proc.waitEv('error');
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    await good.write('two\r\n');
    expect((await good.waitBytes(10)).toString()).toBe('one\r\ntwo\r\n');
    expect(good.closed).toBe(false);
    good.destroy();
  });

  it('run() rejects with EADDRINUSE when the port is taken', async () => {
    const { port } = await startFixture({ settings: { process_number: 1 } });
    const { proc } = await startFixture({ port, settings: { process_number: 1 } }, { waitStart: false });
    const err = await proc.waitEv('runError');
    expect(err.code).toBe('EADDRINUSE');
    expect((await proc.exited).code).toBe(1);
  });

  it('titles the master and each worker, readable in /proc', async () => {
    const { proc, workers } = await startFixture({
      settings: { process_number: 2, master_name: 'shop master', worker_name: 'shop worker' },
    });
    expect(cmdline(proc.pid)).toBe('shop master');
    const titles = workers.map(cmdline).sort();
    expect(titles).toEqual(['shop worker 0', 'shop worker 1']);
  });
});

describe('signals', () => {
  async function stopsInOrder(sig: NodeJS.Signals) {
    const { proc, workers } = await startFixture({ settings: { process_number: 2 } });
    proc.kill(sig);
    const exit = await proc.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    const exits = proc.events.filter((e) => e.ev === 'workerExit');
    expect(exits.map((e) => e.pid).sort()).toEqual([...workers].sort());
    for (const e of exits) expect(e.code).toBe(0);
    // every worker exit was seen before the master's shutdown
    const shutdownAt = proc.events.findIndex((e) => e.ev === 'shutdown');
    expect(shutdownAt).toBeGreaterThan(Math.max(...exits.map((e) => proc.events.indexOf(e))));
    for (const pid of workers) expect(alive(pid)).toBe(false);
  }
  it('SIGTERM to the master stops the workers first, then the master with status 0', () => stopsInOrder('SIGTERM'));
  it('SIGINT to the master stops the workers first, then the master with status 0', () => stopsInOrder('SIGINT'));

  it('SIGTERM to one worker stops only it; the master keeps the pool size', async () => {
    const { proc, port, workers } = await startFixture({ settings: { process_number: 2 } });
    const before = await Client.open(port);
    process.kill(workers[0], 'SIGTERM');
    await proc.waitEv('workerExit', 5000, (e) => e.pid === workers[0]);
    expect(proc.events.find((e) => e.ev === 'workerExit' && e.pid === workers[0])!.code).toBe(0);
    expect(
      await until(
        () =>
          childrenOf(proc.pid).filter(alive).length === 2 &&
          proc.events.some((e) => e.ev === 'workerStart' && !workers.includes(e.pid)),
        5000,
      ),
    ).toBe(true);
    expect(alive(workers[1])).toBe(true);
    expect(before.error).toBe(null); // drained and closed gracefully if it was on the stopped worker
    const c = await Client.open(port);
    await c.write('x');
    expect((await c.waitBytes(1)).toString()).toBe('x');
    c.destroy();
    before.destroy();
  });

  it('SIGKILL to the master leaves no orphan workers', async () => {
    const { proc, workers } = await startFixture({ settings: { process_number: 2 } });
    proc.kill('SIGKILL');
    await proc.exited;
    expect(await until(() => workers.every((p) => !alive(p)), 2000)).toBe(true);
  });

  it('SIGTERM while pipelined requests are answered loses no reply to a message already read', async () => {
    const { proc, port } = await startFixture({ settings: { process_number: 1, protocol: 'eof' }, mode: 'slow', busyMs: 2 });
    const c = await Client.open(port);
    const n = 600;
    const msgs = Array.from({ length: n }, (_, i) => `req-${i}\r\n`).join('');
    await c.write(msgs);
    await c.waitBytes(10); // the worker is answering
    proc.kill('SIGTERM');
    await c.waitBytes(msgs.length, 10_000);
    expect(c.data.toString()).toBe(msgs);
    await c.done; // the server closes it once quiet
    expect((await proc.exited).code).toBe(0);
  });
});
