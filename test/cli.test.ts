// The tcp-prefork command, stats, pid_file and TLS, with real processes.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, alive, cleanup, selfSignedCert, spawnProc, startFixture, until } from './helpers/proc.js';

const run = promisify(execFile);
const CLI = 'build/src/cli.js';
afterEach(cleanup);

const dir = mkdtempSync(join(tmpdir(), 'tp-cli-'));
let n = 0;
const pidPath = () => join(dir, `server-${++n}.pid`);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('pid_file and the tcp-prefork command', () => {
  it('status prints a table and --json the documented shape; counters add up', async () => {
    const pidFile = pidPath();
    const { proc, port, workers } = await startFixture({ settings: { process_number: 2, protocol: 'eof', pid_file: pidFile } });
    expect(Number((await import('node:fs')).readFileSync(pidFile, 'utf8'))).toBe(proc.pid);
    const clients = await Promise.all([Client.open(port), Client.open(port), Client.open(port)]);
    for (const c of clients) await c.write('hello\r\nworld\r\n');
    for (const c of clients) await c.waitBytes(14);
    const bad = await Client.open(port);
    await bad.write('x'.repeat(10));
    const { stdout, code } = await cli('status', '--pid-file', pidFile, '--json');
    expect(code).toBe(0);
    const s = JSON.parse(stdout);
    expect(s.workers).toHaveLength(2);
    expect(s.workers.map((w: { pid: number }) => w.pid).sort()).toEqual([...workers].sort());
    for (const w of s.workers) {
      for (const k of [
        'pid',
        'connections',
        'accepted',
        'closed',
        'aborted',
        'messages',
        'bytes_in',
        'bytes_out',
        'errors',
        'respawns',
        'uptime',
      ])
        expect(w).toHaveProperty(k);
    }
    expect(s.total.connections).toBe(4);
    expect(s.total.accepted).toBe(4);
    expect(s.total.messages).toBe(6);
    expect(s.total.bytes_in).toBe(3 * 14 + 10);
    expect(s.total.bytes_out).toBe(3 * 14);
    expect(s.total.respawns).toBe(0);
    const table = await cli('status', '--pid-file', pidFile);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/worker\s+pid\s+conns\s+accepted/);
    expect(table.stdout).toMatch(/total\s+4\s+4/);
    for (const c of [...clients, bad]) c.destroy();
    void proc;
  });

  it('stop stops gracefully and removes the pid file; a second stop finds no pid file', async () => {
    const pidFile = pidPath();
    const { proc } = await startFixture({ settings: { process_number: 1, pid_file: pidFile } });
    const r = await cli('stop', '--pid-file', pidFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`stopped master ${proc.pid}`);
    expect((await proc.exited).code).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    const again = await cli('stop', '--pid-file', pidFile);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/no pid file/);
  });

  it('reload replaces every worker', async () => {
    const pidFile = pidPath();
    const { proc, workers } = await startFixture({ settings: { process_number: 2, pid_file: pidFile } });
    const r = await cli('reload', '--pid-file', pidFile);
    expect(r.code).toBe(0);
    expect(
      await until(
        () =>
          workers.every((w) => !alive(w)) &&
          proc.events.filter((e) => e.ev === 'workerStart' && !workers.includes(e.pid)).length === 2,
        10_000,
      ),
    ).toBe(true);
  });

  it('a missing or stale pid file gives a clear message and a non-zero exit', async () => {
    const missing = await cli('status', '--pid-file', join(dir, 'nope.pid'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no pid file/);
    const dead = join(dir, 'dead.pid');
    const gone = spawnProc(process.execPath, ['-e', '0']);
    await gone.exited;
    writeFileSync(dead, `${gone.pid}\n`);
    const stale = await cli('stop', '--pid-file', dead);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/stale pid file.*not running/);
    // A live process that is not a tcp-prefork master is never signalled.
    const other = join(dir, 'other.pid');
    writeFileSync(other, `${process.pid}\n`);
    const foreign = await cli('stop', '--pid-file', other);
    expect(foreign.code).not.toBe(0);
    expect(foreign.stderr).toMatch(/does not answer as a tcp-prefork master/);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('status')).stderr).toMatch(/--pid-file/);
  });

  it('start runs a user script with its arguments and pid file', async () => {
    const pidFile = pidPath();
    const p = spawnProc(process.execPath, [
      CLI,
      'start',
      'build/src/demo.js',
      '--pid-file',
      pidFile,
      '--',
      '--port',
      '0',
      '--workers',
      '1',
    ]);
    expect(await until(() => /demo: http:\/\/127\.0\.0\.1:\d+\//.test(p.stdout), 15_000)).toBe(true);
    expect(await until(() => existsSync(pidFile))).toBe(true);
    const r = await cli('status', '--pid-file', pidFile, '--json');
    expect(JSON.parse(r.stdout).workers).toHaveLength(1);
    expect((await cli('stop', '--pid-file', pidFile)).code).toBe(0);
    expect((await p.exited).code).toBe(0);
  });
});

describe('TLS', () => {
  const { cert, key } = selfSignedCert('tp-tls-');

  it('serves framed messages over TLS to a real TLS client; plain bytes cost only that connection', async () => {
    const { proc, port } = await startFixture({
      settings: { process_number: 1, protocol: 'eof', ssl_cert_file: cert, ssl_key_file: key },
      logReceive: true,
      logData: true,
    });
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    let got = '';
    socket.on('data', (d) => {
      got += d;
    });
    socket.write('sec');
    socket.write('ret\r\nsecond\r\n');
    expect(await until(() => got === 'secret\r\nsecond\r\n')).toBe(true);
    const recv = proc.events.filter((e) => e.ev === 'receive').map((e) => Buffer.from(String(e.data), 'base64').toString());
    expect(recv).toEqual(['secret\r\n', 'second\r\n']);
    const acc = proc.events.find((e) => e.ev === 'accept')!;
    expect(acc.remote).toMatchObject({ ip: '127.0.0.1', port: socket.localPort });
    const plain = await Client.open(port);
    await plain.write('not tls\r\n');
    await plain.done;
    socket.write('still\r\n');
    expect(await until(() => got.endsWith('still\r\n'))).toBe(true);
    socket.destroy();
  });

  it('refuses half a TLS configuration at run()', async () => {
    const { proc } = await startFixture({ settings: { process_number: 1, ssl_cert_file: cert } }, { waitStart: false });
    const err = await proc.waitEv('runError');
    expect(err.code).toBe('ERR_INVALID_SETTING');
    expect(err.message).toMatch(/ssl_key_file/);
  });
});
