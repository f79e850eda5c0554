// The examples run as a user runs them: examples/chat.mjs with real clients,
// two workers, and lines that cross from one worker's connections to the
// other's.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Client, childrenOf, cleanup, spawnProc, until } from './helpers/proc.js';

afterEach(cleanup);

/** The pid among `pids` that holds the server side of the client connected from `clientPort` to `serverPort`. */
function servingPid(pids: number[], serverPort: number, clientPort: number): number | null {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  let inode = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex(serverPort)}`) && f[2]?.endsWith(`:${hex(clientPort)}`)) inode = Number(f[9]);
  }
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return null;
}

describe('examples/chat.mjs', () => {
  it('a chat room over eof with 2 workers: joins, nicknames, lines and leaves reach everyone, across workers', async () => {
    const chat = spawnProc(process.execPath, ['examples/chat.mjs', '0']);
    expect(await until(() => /chat on 127\.0\.0\.1:\d+/.test(chat.stdout), 10_000)).toBe(true);
    const port = Number(/chat on 127\.0\.0\.1:(\d+)/.exec(chat.stdout)![1]);
    const [a, b, c] = [await Client.open(port), await Client.open(port), await Client.open(port)];
    const seen = (cl: Client, s: string) => until(() => cl.data.toString().includes(s), 5000);
    for (const cl of [a, b, c]) expect(await seen(cl, '* welcome, guest')).toBe(true);
    // round_robin: the first two clients are on different workers.
    const workers = childrenOf(chat.pid);
    expect(workers).toHaveLength(2);
    const on = [a, b].map((cl) => servingPid(workers, port, cl.socket.localPort!));
    expect(on[0]).not.toBe(null);
    expect(on[1]).not.toBe(null);
    expect(on[0]).not.toBe(on[1]);
    await a.write('/nick alice\n');
    await b.write('/nick bob\r\n');
    for (const cl of [a, b, c]) {
      expect(await seen(cl, 'is now alice')).toBe(true);
      expect(await seen(cl, 'is now bob')).toBe(true);
    }
    await a.write('hello from alice\n');
    expect(await seen(b, 'alice: hello from alice\n')).toBe(true);
    expect(await seen(c, 'alice: hello from alice\n')).toBe(true);
    await b.write('hi alice\n');
    expect(await seen(a, 'bob: hi alice\n')).toBe(true);
    // Nobody hears their own line back.
    expect(a.data.toString()).not.toContain('alice: hello');
    await c.write('/quit\n');
    await c.done;
    expect(c.data.toString()).toContain('* bye');
    expect(await seen(a, ' left\n')).toBe(true);
    expect(await seen(b, ' left\n')).toBe(true);
    a.destroy();
    b.destroy();
    chat.kill('SIGTERM');
    expect((await chat.exited).code).toBe(0);
  });
});
