// The PROXY protocol: parsed by the core before framing (v1 text, v2 binary),
// then end to end behind a real HAProxy in front of two instances.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { core } from '../src/core.js';
import { Settings } from '../src/settings.js';
import { formatIp } from '../src/proxy.js';
import { reusePortSupported } from '../src/dispatch/reuseport.js';
import { Client, cleanup, sleep, spawnProc, startFixture, until, type Proc } from './helpers/proc.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(cmd: number, fam: number, addr: Buffer, tlv = Buffer.alloc(0)): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addr.length + tlv.length);
  return Buffer.concat([SIG, Buffer.from([0x20 | cmd, fam]), len, addr, tlv]);
}

function v2tcp4(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return v2(1, 0x11, Buffer.concat([Buffer.from(src), Buffer.from(dst), ports]));
}

describe('PROXY header in the core', () => {
  const settings = new Settings();
  const c = core();
  beforeEach(() => {
    settings.reset();
    settings.set('proxy_protocol', true);
    settings.set('protocol', 'eof');
  });

  /** Feeds chunks; returns frames, the proxy result and the error status. */
  function run(chunks: Buffer[]) {
    const conn = c.open(settings.store);
    const frames: string[] = [];
    let proxy = null;
    let err = 0;
    for (const ch of chunks) {
      const n = c.feed(conn, ch);
      err ||= c.error;
      const p = c.proxy();
      if (p.kind) proxy = p;
      for (let i = 0; i < n; i++) frames.push(c.message(ch, i).toString('latin1'));
    }
    c.close(conn);
    return { frames, proxy, err };
  }
  const splits = (b: Buffer) => [[b], [...b].map((x) => Buffer.from([x])), [b.subarray(0, 7), b.subarray(7)]];

  it.each([
    ['PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n', { ip: '192.168.0.1', port: 56324 }, { ip: '10.0.0.2', port: 443 }],
    ['PROXY TCP6 2001:db8::1 ::1 1 2\r\n', { ip: '2001:db8::1', port: 1 }, { ip: '::1', port: 2 }],
    [
      'PROXY TCP6 ::ffff:1.2.3.4 fe80::1:2:3:4 65535 0\r\n',
      { ip: '::ffff:1.2.3.4', port: 65535 },
      { ip: 'fe80::1:2:3:4', port: 0 },
    ],
    ['PROXY TCP6 1:2:3:4:5:6:7:8 1::8 10 20\r\n', { ip: '1:2:3:4:5:6:7:8', port: 10 }, { ip: '1::8', port: 20 }],
  ])('v1 %j, whole or split at every byte', (head, src, dst) => {
    for (const chunks of splits(Buffer.from(head + 'hello\r\nworld\r\n', 'latin1'))) {
      const r = run(chunks);
      expect(r.err).toBe(0);
      expect(r.frames).toEqual(['hello\r\n', 'world\r\n']);
      expect(r.proxy).toEqual({ kind: 1, src, dst });
    }
  });

  it('v2 TCP4 and TCP6, with TLVs, whole or split at every byte', () => {
    const a6 = Buffer.alloc(36);
    a6[15] = 1; // ::1
    a6.writeUInt16BE(0x2001, 16); // 2001::
    a6.writeUInt16BE(4000, 32);
    a6.writeUInt16BE(80, 34);
    const tlv = Buffer.from([0x04, 0x00, 0x03, 1, 2, 3]); // a NOOP TLV
    const cases: [Buffer, unknown][] = [
      [
        v2tcp4([127, 0, 0, 5], [127, 0, 0, 1], 8080, 9001),
        { kind: 1, src: { ip: '127.0.0.5', port: 8080 }, dst: { ip: '127.0.0.1', port: 9001 } },
      ],
      [v2(1, 0x21, a6, tlv), { kind: 1, src: { ip: '::1', port: 4000 }, dst: { ip: '2001::', port: 80 } }],
      [v2(0, 0x00, Buffer.alloc(0)), { kind: 2 }], // LOCAL: a health check
    ];
    for (const [head, want] of cases) {
      for (const chunks of splits(Buffer.concat([head, Buffer.from('hi\r\n')]))) {
        const r = run(chunks);
        expect(r.err).toBe(0);
        expect(r.frames).toEqual(['hi\r\n']);
        expect(r.proxy).toEqual(want);
      }
    }
  });

  it('v1 UNKNOWN keeps the socket address', () => {
    expect(run([Buffer.from('PROXY UNKNOWN\r\nx\r\n')])).toEqual({ frames: ['x\r\n'], proxy: { kind: 2 }, err: 0 });
  });

  it.each([
    ['no header at all', 'GET / HTTP/1.1\r\n\r\n'],
    ['bad v1 family', 'PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n'],
    ['bad v1 address', 'PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n'],
    ['bad v1 port', 'PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n'],
    ['leading zero port', 'PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n'],
    ['v1 too long', 'PROXY TCP4 ' + '1'.repeat(120) + '\r\n'],
    ['v1 bare LF', 'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n'],
    ['v6 with two ::', 'PROXY TCP6 1::2::3 ::1 1 2\r\n'],
  ])('refuses %s with ERR_BAD_PROXY_HEADER, whole or split', (_name, bytes) => {
    for (const chunks of splits(Buffer.from(bytes, 'latin1'))) {
      const r = run(chunks);
      expect(r.err).toBe(4);
      expect(r.frames).toEqual([]);
    }
  });

  it('refuses a bad v2 signature, version, command or family', () => {
    const good = v2tcp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
    const bad = [Buffer.from(good), Buffer.from(good), Buffer.from(good), Buffer.from(good)];
    bad[0][3] = 0x0b; // signature
    bad[1][12] = 0x11; // version 1
    bad[2][12] = 0x22; // command 2
    bad[3][13] = 0x12; // UDP over IPv4
    for (const b of bad) expect(run([b]).err).toBe(4);
  });

  it('formats addresses the way node does', () => {
    expect(formatIp(Buffer.from([10, 0, 0, 1]), 4)).toBe('10.0.0.1');
    const b = Buffer.alloc(16);
    expect(formatIp(b, 6)).toBe('::');
    b[15] = 1;
    expect(formatIp(b, 6)).toBe('::1');
    const c6 = Buffer.from('20010db8000000000001000000000001', 'hex');
    expect(formatIp(c6, 6)).toBe('2001:db8::1:0:0:1');
  });
});

describe('proxy_protocol through real sockets', () => {
  afterEach(cleanup);

  it('callbacks see the real client in ip/port and the balancer in via; a missing header costs that connection only', async () => {
    const { proc, port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', proxy_protocol: true },
      logReceive: true,
    });
    const c = await Client.open(port);
    await c.write('PROXY TCP4 203.0.113.7 127.0.0.1 40000 ' + port + '\r\nhi\r\n');
    expect((await c.waitBytes(4)).toString()).toBe('hi\r\n');
    const acc = await proc.waitEv('accept');
    expect(acc.remote).toMatchObject({ ip: '203.0.113.7', port: 40000, via: { ip: '127.0.0.1', port: c.socket.localPort } });
    const rec = await proc.waitEv('receive');
    expect(rec.remote).toMatchObject({ ip: '203.0.113.7', port: 40000 });
    const bad = await Client.open(port);
    await bad.write('hi\r\n');
    await bad.done;
    expect((await proc.waitEv('error')).code).toBe('ERR_BAD_PROXY_HEADER');
    await c.write('again\r\n');
    expect((await c.waitBytes(11)).toString()).toBe('hi\r\nagain\r\n');
    // raw mode too: the header is stripped, the rest is the message
    c.destroy();
  });
});

function haproxyPath(): string | null {
  try {
    return (
      execFileSync('sh', ['-c', 'command -v haproxy || ls /usr/sbin/haproxy'], { encoding: 'utf8' }).trim().split('\n')[0] || null
    );
  } catch {
    return null;
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** One request on a fresh connection through the balancer: resolves with the reply, or an error string. */
function request(port: number, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      resolve(`timeout after ${JSON.stringify(got)}`);
    }, 5000);
    s.on('connect', () => s.write(msg));
    s.on('data', (d) => {
      got += d;
      if (got.length >= msg.length) {
        clearTimeout(t);
        s.end();
        resolve(got);
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      resolve(`error ${(e as NodeJS.ErrnoException).code}`);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
  });
}

/** Sends one command to HAProxy's runtime API; resolves with its answer. */
function haproxyCommand(sock: string, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let out = '';
    s.on('connect', () => s.end(cmd + '\n'));
    s.on('data', (d) => {
      out += d;
    });
    s.on('close', () => resolve(out.trim()));
    s.on('error', reject);
  });
}

const haproxy = haproxyPath();

describe.skipIf(!haproxy)('behind a real HAProxy (send-proxy and send-proxy-v2)', () => {
  afterEach(cleanup);

  it('the callbacks see the client; stopping a drained instance loses no reply while HAProxy moves to the other', async () => {
    const cfg = { settings: { process_number: 2, protocol: 'eof', proxy_protocol: true }, logReceive: true, logData: true };
    const a = await startFixture(cfg);
    const b = await startFixture(cfg);
    const fe = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tp-haproxy-'));
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(
      conf,
      [
        'global',
        '  maxconn 2000',
        '  log stdout format raw local0',
        `  stats socket ${join(dir, 'admin.sock')} mode 600 level admin`,
        'defaults',
        '  mode tcp',
        '  log global',
        '  log-format "%ci:%cp %b/%s src=%bi:%bp %ts %B"',
        '  timeout connect 1s',
        '  timeout client 10s',
        '  timeout server 10s',
        '  retries 3',
        '  option redispatch',
        'frontend fe',
        `  bind 127.0.0.1:${fe}`,
        '  default_backend be',
        'backend be',
        '  balance roundrobin',
        `  server a 127.0.0.1:${a.port} send-proxy check inter 100ms fall 1 rise 1`,
        `  server b 127.0.0.1:${b.port} send-proxy-v2 check inter 100ms fall 1 rise 1`,
        '',
      ].join('\n'),
    );
    const hp: Proc = spawnProc(haproxy!, ['-db', '-f', conf]);
    expect(await until(async () => (await request(fe, 'up\r\n')) === 'up\r\n', 5000, 100)).toBe(true);

    // The real client address reaches both instances (v1 to a, v2 to b).
    const c = await Client.open(fe);
    await c.write('who\r\n');
    await c.waitBytes(5);
    const localPort = c.socket.localPort;
    c.destroy();
    const seen = [...a.proc.events, ...b.proc.events].find(
      (e) => e.ev === 'accept' && (e.remote as { port: number }).port === localPort,
    );
    expect(seen?.remote).toMatchObject({ ip: '127.0.0.1', port: localPort });
    expect((seen!.remote as { via: { port: number } }).via.port).not.toBe(localPort);
    const results: string[] = [];
    for (let i = 0; i < 20; i++) results.push(await request(fe, `warm-${i}\r\n`));
    expect(a.proc.count('receive')).toBeGreaterThan(0);
    expect(b.proc.count('receive')).toBeGreaterThan(0);

    // Load through HAProxy while instance a stops gracefully.
    let stop = false;
    const loops = Array.from({ length: 4 }, async (_, k) => {
      let i = 0;
      while (!stop) {
        const msg = `m-${k}-${i++}\r\n`;
        {
          const r = await request(fe, msg);
          results.push(r === msg ? 'ok' : `lost ${msg.trim()}: ${JSON.stringify(r)}`);
        }
      }
    });
    await sleep(300);
    // The deployment guide's order: drain the instance in HAProxy, then stop it.
    // (Closing a listening socket resets connections still in its accept queue,
    // so a balancer must stop sending first.)
    expect(await haproxyCommand(join(dir, 'admin.sock'), 'set server be/a state drain')).toBe('');
    await sleep(200);
    a.proc.kill('SIGTERM');
    expect((await a.proc.exited).code).toBe(0);
    await sleep(500);
    stop = true;
    await Promise.all(loops);
    const lost = results.filter((r) => r !== 'ok' && !r.startsWith('warm'));
    if (lost.length)
      console.log(
        'haproxy log:\n' +
          hp.stdout
            .split('\n')
            .filter((l) => !l.includes(' -- '))
            .join('\n')
            .slice(-4000),
      );
    expect(lost).toEqual([]);
    expect(results.length).toBeGreaterThan(50);
    // After the stop, b took everything.
    for (let i = 0; i < 5; i++) expect(await request(fe, `after-${i}\r\n`)).toBe(`after-${i}\r\n`);
    const text = (e: { [k: string]: unknown }) => Buffer.from(String(e.data), 'base64').toString();
    await until(() => b.proc.events.filter((e) => e.ev === 'receive' && text(e).startsWith('after-')).length === 5);
    expect(b.proc.events.filter((e) => e.ev === 'receive' && text(e).startsWith('after-'))).toHaveLength(5);
    hp.kill('SIGTERM');
  }, 60_000);
});

describe.skipIf(!haproxy || !reusePortSupported())(
  'behind a real HAProxy, without draining it: dispatch_mode reuseport and tcp_migrate_req',
  () => {
    const sysctl = '/proc/sys/net/ipv4/tcp_migrate_req';
    let before = '';
    let writable = true;
    beforeAll(() => {
      try {
        before = readFileSync(sysctl, 'utf8').trim();
        writeFileSync(sysctl, '1');
      } catch {
        writable = false;
      }
    });
    afterAll(() => {
      if (writable && before !== '') writeFileSync(sysctl, before);
    });
    afterEach(cleanup);

    it('20 times: an instance on the same port as another is stopped under load from 4 client loops; no reply is lost', async () => {
      expect(writable, `needs root to set ${sysctl}`).toBe(true);
      const settings = { process_number: 2, protocol: 'eof', proxy_protocol: true, dispatch_mode: 'reuseport' };
      // b stays; each run starts an instance a on b's port (one SO_REUSEPORT group), then stops it.
      const b = await startFixture({ settings });
      const fe = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'tp-haproxy-'));
      const conf = join(dir, 'haproxy.cfg');
      writeFileSync(
        conf,
        [
          'global',
          '  maxconn 2000',
          'defaults',
          '  mode tcp',
          '  timeout connect 1s',
          '  timeout client 10s',
          '  timeout server 10s',
          'frontend fe',
          `  bind 127.0.0.1:${fe}`,
          '  default_backend be',
          'backend be',
          `  server s 127.0.0.1:${b.port} send-proxy-v2`,
          '',
        ].join('\n'),
      );
      const hp: Proc = spawnProc(haproxy!, ['-db', '-f', conf]);
      expect(await until(async () => (await request(fe, 'up\r\n')) === 'up\r\n', 5000, 100)).toBe(true);
      const lost: string[] = [];
      let total = 0;
      for (let run = 0; run < 20; run++) {
        const a = await startFixture({ port: b.port, settings });
        let stop = false;
        const loops = Array.from({ length: 4 }, async (_, k) => {
          for (let i = 0; !stop; i++) {
            const msg = `r${run}-${k}-${i}\r\n`;
            const r = await request(fe, msg);
            total++;
            if (r !== msg) lost.push(`${msg.trim()}: ${JSON.stringify(r)}`);
          }
        });
        await sleep(150);
        // No drain in HAProxy: a's workers close their sockets, and the kernel moves what waits in
        // their queues to b's.
        a.proc.kill('SIGTERM');
        expect((await a.proc.exited).code).toBe(0);
        await sleep(100);
        stop = true;
        await Promise.all(loops);
      }
      expect(lost).toEqual([]);
      expect(total).toBeGreaterThan(400);
      hp.kill('SIGTERM');
    }, 120_000);
  },
);
