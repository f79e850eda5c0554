// The master's control socket, which the `tcp-prefork` command talks to
// through the pid file: one JSON line in, one JSON line out. On Linux it is
// an abstract socket named after the master's pid, so nothing is left behind
// on disk; elsewhere a file in the temp directory.
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unlinkSync } from 'node:fs';

export function controlPath(pid: number): string {
  return process.platform === 'linux' ? `\0tcp-prefork-${pid}` : join(tmpdir(), `tcp-prefork-${pid}.sock`);
}

export type ControlHandler = (cmd: string) => Promise<unknown> | unknown;

/** Serves control commands for this process. */
export function serveControl(handler: ControlHandler): net.Server {
  const path = controlPath(process.pid);
  if (!path.startsWith('\0')) {
    try {
      unlinkSync(path);
    } catch {
      /* none */
    }
  }
  const server = net.createServer((socket) => {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', async (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      let reply: unknown;
      try {
        const { cmd } = JSON.parse(buf.slice(0, i)) as { cmd: string };
        reply = { ok: true, result: await handler(cmd) };
      } catch (err) {
        reply = { ok: false, error: (err as Error).message };
      }
      socket.end(JSON.stringify(reply) + '\n');
    });
    socket.on('error', () => {});
  });
  server.listen(path);
  server.unref();
  server.on('error', () => {});
  return server;
}

export function closeControl(server: net.Server): void {
  server.close();
  const path = controlPath(process.pid);
  if (!path.startsWith('\0')) {
    try {
      unlinkSync(path);
    } catch {
      /* gone */
    }
  }
}

/** Sends one command to the master with this pid; rejects if nobody answers. */
export function askControl(pid: number, cmd: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(controlPath(pid));
    let buf = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('timed out'));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ cmd }) + '\n'));
    socket.on('data', (d: string) => {
      buf += d;
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as { ok: boolean; result?: unknown; error?: string };
        if (reply.ok) resolve(reply.result);
        else reject(new Error(reply.error));
      } catch {
        reject(new Error('bad answer'));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
