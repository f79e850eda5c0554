// `npm start`: the php-server benchmark server, checked with curl and ApacheBench.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client, cleanup, spawnProc, type Proc } from './helpers/proc.js';

const run = promisify(execFile);
afterEach(cleanup);

async function startDemo(
  args: string[],
  viaNpm = false,
): Promise<{ proc: Proc; port: number; master: number; workers: number[] }> {
  const proc = viaNpm
    ? spawnProc('npm', ['start', '--ignore-scripts', '--silent', '--', ...args])
    : spawnProc(process.execPath, ['build/src/demo.js', ...args]);
  const deadline = Date.now() + 20_000;
  let m: RegExpExecArray | null = null;
  while (!(m = /demo: https?:\/\/[^ ]+:(\d+)\/ master pid (\d+), worker pids ([\d, ]+)\n/.exec(proc.stdout))) {
    if (Date.now() > deadline) throw new Error(`demo did not start:\n${proc.stdout}\n${proc.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, port: Number(m[1]), master: Number(m[2]), workers: m[3].split(',').map((s) => Number(s.trim())) };
}

function abStats(out: string) {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    complete: num(/Complete requests:\s+(\d+)/),
    failed: num(/Failed requests:\s+(\d+)/),
    non2xx: /Non-2xx responses:\s+(\d+)/.test(out) ? num(/Non-2xx responses:\s+(\d+)/) : 0,
    keepAlive: /Keep-Alive requests:\s+(\d+)/.test(out) ? num(/Keep-Alive requests:\s+(\d+)/) : 0,
    length: num(/Document Length:\s+(\d+)/),
  };
}

describe('npm start', () => {
  it('answers curl with 200 and 0123456789, prints pids at start and exits in order on SIGTERM', async () => {
    const { proc, port, master, workers } = await startDemo(['--port', '0', '--workers', '2'], true);
    expect(workers).toHaveLength(2);
    const { stdout } = await run('curl', ['-s', '-i', `http://127.0.0.1:${port}/`]);
    expect(stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(stdout).toMatch(/Content-Length: 10\r\n/);
    expect(stdout.endsWith('\r\n\r\n0123456789')).toBe(true);
    const pipelined = await Client.open(port);
    await pipelined.write(
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    await pipelined.done;
    expect(pipelined.data.toString().match(/0123456789/g)).toHaveLength(3);
    process.kill(master, 'SIGTERM');
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (/master pid \d+ exited/.test(proc.stdout)) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    const exits = workers.map((w) => proc.stdout.indexOf(`pid ${w} exited`));
    const masterExit = proc.stdout.indexOf(`master pid ${master} exited`);
    for (const e of exits) expect(e).toBeGreaterThan(-1);
    expect(masterExit).toBeGreaterThan(Math.max(...exits));
  }, 60_000);

  it('serves ApacheBench without -k (HTTP/1.0, one connection per request)', async () => {
    const { port } = await startDemo(['--port', '0', '--workers', '2']);
    const { stdout } = await run('ab', ['-q', '-n', '2000', '-c', '50', '-s', '5', `http://127.0.0.1:${port}/`], {
      timeout: 30_000,
    });
    const s = abStats(stdout);
    expect(s).toMatchObject({ complete: 2000, failed: 0, non2xx: 0, keepAlive: 0, length: 10 });
  }, 60_000);

  it('serves ApacheBench with -k (keep-alive)', async () => {
    const { port } = await startDemo(['--port', '0', '--workers', '2']);
    const { stdout } = await run('ab', ['-q', '-k', '-n', '5000', '-c', '20', '-s', '5', `http://127.0.0.1:${port}/`], {
      timeout: 30_000,
    });
    const s = abStats(stdout);
    expect(s).toMatchObject({ complete: 5000, failed: 0, non2xx: 0, keepAlive: 5000, length: 10 });
  }, 60_000);

  it('takes --host, --port, --workers and --protocol', async () => {
    const { port, workers } = await startDemo(['--host', '127.0.0.1', '--port', '0', '--workers', '1', '--protocol', 'eof']);
    expect(workers).toHaveLength(1);
    const c = await Client.open(port);
    await c.write('line\r\n');
    expect((await c.waitBytes(10)).toString()).toMatch(/0123456789$/);
    c.destroy();
    await expect(run(process.execPath, ['build/src/demo.js', '--protocol', 'udp', '--port', '0'])).rejects.toMatchObject({
      code: 2,
    });
  }, 30_000);
});
