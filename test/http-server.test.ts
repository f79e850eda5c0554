// The http protocol through a real server (the host half of the HTTP framing
// rules; the framer itself is test/http.test.ts): 100 Continue, 400/413/431
// replies with a reason and an offset, Connection: close ends the connection
// after its reply, an upgrade hands later bytes over raw, and an empty line
// between pipelined requests. Every case with a synchronous and an async handler.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, cleanup, sleep, startFixture, until, type Event } from './helpers/proc.js';

afterEach(cleanup);

const run = promisify(execFile);

/** Splits what a client read into HTTP responses (head and Content-Length body). */
function responses(data: Buffer): { status: number; head: string; body: string }[] {
  const out: { status: number; head: string; body: string }[] = [];
  let s = data.toString('latin1');
  for (;;) {
    const end = s.indexOf('\r\n\r\n');
    if (end < 0) return out;
    const head = s.slice(0, end);
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    out.push({ status: Number(head.slice(9, 12)), head, body: s.slice(end + 4, end + 4 + len) });
    s = s.slice(end + 4 + len);
  }
}

for (const async of [false, true]) {
  const style = async ? 'async' : 'sync';
  const start = (mode: string, settings: Record<string, unknown> = {}, options: Record<string, unknown> = {}) =>
    startFixture({
      settings: { process_number: 1, protocol: 'http', ...settings },
      mode,
      async,
      awaitMs: async ? 20 : 0,
      ...options,
    });

  describe(`${style} handlers`, () => {
    it('Expect: 100-continue: the server answers 100 Continue once the head is in, then the request is delivered whole', async () => {
      const { port } = await start('http-echo');
      const c = await Client.open(port);
      await c.write('POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      await c.waitBytes(25);
      expect(c.data.toString()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      c.data = Buffer.alloc(0);
      await c.write('hello');
      await until(() => responses(c.data).length === 1);
      const [r] = responses(c.data);
      expect(r.status).toBe(200);
      const len = 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello'.length;
      expect(r.body).toBe(`POST /up HTTP/1.1 ${len}`);
      // A body sent along with the head needs no 100, and gets none.
      c.data = Buffer.alloc(0);
      await c.write('POST /two HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nab');
      await until(() => responses(c.data).length === 1);
      expect(c.data.toString()).toMatch(/^HTTP\/1\.1 200 /);
      c.destroy();
    });

    it('http_auto_continue false: no 100 Continue; the request still comes once the body does', async () => {
      const { port } = await start('http-echo', { http_auto_continue: false });
      const c = await Client.open(port);
      await c.write('POST /up HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n');
      await sleep(200); // nothing to wait for: the point is that nothing comes
      expect(c.data.length).toBe(0);
      await c.write('abc');
      await until(() => responses(c.data).length === 1);
      expect(responses(c.data)[0].status).toBe(200);
      c.destroy();
    });

    it('curl with a 1.5 MiB POST (it sends Expect: 100-continue) sees the 100 and the reply', async () => {
      const { port } = await start('http-echo', { package_max_length: 4 * 1024 * 1024 });
      const file = join(tmpdir(), `tp-body-${process.pid}`);
      writeFileSync(file, Buffer.alloc(1536 * 1024, 0x61));
      const { stdout, stderr } = await run('curl', ['-sv', '--data-binary', `@${file}`, `http://127.0.0.1:${port}/upload`]);
      expect(stderr).toMatch(/> Expect: 100-continue/i);
      expect(stderr).toContain('< HTTP/1.1 100 Continue');
      expect(stdout).toMatch(/^POST \/upload HTTP\/1\.1 \d+$/);
      expect(Number(stdout.split(' ').at(-1))).toBeGreaterThan(1536 * 1024);
    });

    for (const [what, bytes, status, code, reason] of [
      [
        'a malformed request line',
        'GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /a\tb HTTP/1.1\r\n\r\n',
        400,
        'ERR_BAD_HTTP',
        'invalid request target',
      ],
      ['a bare LF', 'GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\nHost: h\r\n\r\n', 400, 'ERR_BAD_HTTP', 'LF without CR'],
      [
        'a Content-Length over package_max_length',
        'GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n',
        413,
        'ERR_FRAME_TOO_LARGE',
        'request body exceeds package_max_length',
      ],
      [
        'a head over package_max_length',
        `GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nX: ${'a'.repeat(5000)}`,
        431,
        'ERR_FRAME_TOO_LARGE',
        'request head exceeds package_max_length',
      ],
    ] as const) {
      it(`${what}: the request before it is answered, then ${status} with Connection: close; error ${code} says why and where`, async () => {
        const { proc, port } = await start('http-echo', { package_max_length: 4096 });
        const c = await Client.open(port);
        await c.write(bytes);
        await c.done;
        const rs = responses(c.data);
        expect(rs.map((r) => r.status)).toEqual([200, status]);
        expect(rs[1].head).toMatch(/\r\nConnection: close(\r\n|$)/i);
        const err = await proc.waitEv('error', 5000, (e: Event) => e.code === code);
        expect(err.reason).toBe(reason);
        // The offset counts from the connection's first byte: past the first request, inside the second.
        const first = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n'.length;
        expect(err.offset as number).toBeGreaterThanOrEqual(first);
        expect(err.offset as number).toBeLessThanOrEqual(first + 4096 + 1);
        if (what === 'a bare LF') expect(err.offset).toBe(bytes.indexOf('\n', first));
      });
    }

    it('http_error_replies false: a malformed request closes the connection with no reply', async () => {
      const { proc, port } = await start('http-echo', { http_error_replies: false });
      const c = await Client.open(port);
      await c.write('GET /a\tb HTTP/1.1\r\n\r\n');
      await c.done;
      expect(c.data.length).toBe(0);
      await proc.waitEv('error', 5000, (e) => e.code === 'ERR_BAD_HTTP');
    });

    it('a request with Connection: close is answered, the pipelined one after it ignored, and the connection closed (the handler does not call close)', async () => {
      const { proc, port } = await start('http-echo', {}, { logReceive: true });
      const c = await Client.open(port);
      await c.write('GET /1 HTTP/1.1\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n\r\n');
      await c.done;
      const rs = responses(c.data);
      expect(rs).toHaveLength(1);
      expect(rs[0].body).toMatch(/^GET \/1 /);
      expect(rs[0].head).toMatch(/Connection: close/);
      expect(proc.count('receive')).toBe(1);
      expect(c.error).toBe(null);
    });

    it('an empty line between pipelined requests (CRLF after a POST body) is skipped: both are answered', async () => {
      const { port } = await start('http-echo');
      const c = await Client.open(port);
      await c.write('POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\nGET /b HTTP/1.1\r\n\r\n');
      await until(() => responses(c.data).length === 2);
      expect(responses(c.data).map((r) => r.body.split(' ')[1])).toEqual(['/a', '/b']);
      c.destroy();
    });

    it('an upgrade: the request is one message, then every byte comes raw with remote.upgraded, even bytes that are not HTTP', async () => {
      const { proc, port } = await start('upgrade', {}, { logReceive: true, logData: true });
      const c = await Client.open(port);
      const upgrade = 'GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n';
      // The first raw bytes ride in the same write as the request.
      await c.write(upgrade + 'hello\r\n');
      await until(() => c.data.toString().includes('raw:hello'));
      expect(c.data.toString()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\nraw:hello\r\n$/);
      c.data = Buffer.alloc(0);
      await c.write(Buffer.from([0x81, 0x00, 0x0a, 0x0d, 0xff]));
      await until(() => c.data.length >= 9);
      expect(c.data.equals(Buffer.concat([Buffer.from('raw:'), Buffer.from([0x81, 0x00, 0x0a, 0x0d, 0xff])]))).toBe(true);
      const got = proc.events.filter((e) => e.ev === 'receive');
      expect(Buffer.from(got[0].data as string, 'base64').toString()).toBe(upgrade);
      expect((got[0].remote as { upgraded?: boolean }).upgraded).toBeUndefined();
      for (const e of got.slice(1)) expect((e.remote as { upgraded?: boolean }).upgraded).toBe(true);
      expect(proc.events.filter((e) => e.ev === 'error')).toEqual([]);
      c.destroy();
    });
  });
}
