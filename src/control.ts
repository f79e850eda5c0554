// The master's control socket, which the `tcp-prefork` command talks to
// through the pid file: one JSON line in, one JSON line out.
//
// Only the server's own user and root may drive a master, as with signals or
// HAProxy's mode-600 admin socket. The socket is a file,
// `<tmpdir>/tcp-prefork-<uid>/<pid>.sock`: the directory is mode 0700 and owned
// by the server's uid (checked on an O_NOFOLLOW descriptor at start-up; a
// symlink or a directory another user owns makes the master refuse to serve the
// socket), the socket file mode 0600. The permissions are the whole check:
// node:net offers no way to read the peer's credentials (SO_PEERCRED) without
// native code, so the server cannot ask who connected; the kernel refuses a
// connect() by another user with EACCES before the master sees anything.
// (An abstract Linux socket, used before, has no permissions at all.)
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  type Stats,
  unlinkSync,
} from 'node:fs';

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_PATH = 107;

const isWindows = process.platform === 'win32';

function myUid(): number {
  return process.getuid ? process.getuid() : -1;
}

/** The directory of the control sockets of the masters run by `uid`. */
export function controlDir(uid = myUid()): string {
  return join(tmpdir(), `tcp-prefork-${uid}`);
}

/** The control socket of the master with this pid, run by `uid` (by default the owner of /proc/<pid>). */
export function controlPath(pid: number, uid = ownerOf(pid)): string {
  // Windows has no Unix permissions here: a named pipe, whose default DACL gives write access to its creator only.
  if (isWindows) return `\\\\.\\pipe\\tcp-prefork-${pid}`;
  return join(controlDir(uid), `${pid}.sock`);
}

/** The uid that runs `pid`: the owner of /proc/<pid> on Linux, else (or if unreadable) our own. */
export function ownerOf(pid: number): number {
  if (process.platform === 'linux') {
    try {
      return statSync(`/proc/${pid}`).uid;
    } catch {
      /* gone, or no /proc: our own */
    }
  }
  return myUid();
}

export class ControlSocketError extends Error {
  readonly code = 'ERR_CONTROL_SOCKET';
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * Creates the control directory (mode 0700) if need be and checks it through a
 * descriptor opened with O_NOFOLLOW, so what is checked is what is used: a real
 * directory, owned by us, mode 0700 exactly (a wrong mode is fixed, since it is
 * ours). Throws ControlSocketError for a symlink, a non-directory, a directory
 * another user owns, or a parent anyone may write to without the sticky bit.
 */
export function prepareControlDir(dir = controlDir()): string {
  const uid = myUid();
  const parent = dirname(dir);
  const p = statSync(parent);
  // A parent anyone may write to without the sticky bit lets anyone rename our directory away.
  if (p.mode & 0o002 && !(p.mode & 0o1000))
    throw new ControlSocketError(`${parent} is writable by anyone without the sticky bit`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Linux says ENOTDIR for a symlink opened with O_DIRECTORY | O_NOFOLLOW, others ELOOP.
    if (code === 'ELOOP' || code === 'ENOTDIR')
      throw new ControlSocketError(`${dir} is ${lstatSync(dir).isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isDirectory()) throw new ControlSocketError(`${dir} is not a directory`);
    if (st.uid !== uid) throw new ControlSocketError(`${dir} is owned by uid ${st.uid}, not by this server's uid ${uid}`);
    if ((st.mode & 0o7777) !== 0o700) fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
  return dir;
}

export type ControlHandler = (cmd: string) => Promise<unknown> | unknown;

const paths = new WeakMap<net.Server, string>();

function listen(handler: ControlHandler, path: string): net.Server {
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
  server.on('error', () => {});
  // A Unix socket binds synchronously: `listening` tells at once whether it worked (an error is emitted later).
  server.listen(path);
  server.unref();
  return server;
}

/**
 * Serves control commands for this process. If the control directory is unsafe
 * (or the socket cannot be made), the master runs without a control socket:
 * `log` gets one line saying why (by default stderr, whatever log_level says,
 * since it is a security refusal), and the returned server is not listening.
 */
export function serveControl(
  handler: ControlHandler,
  log: (line: string) => void = (line) => process.stderr.write(`[tcp-prefork] ${line}\n`),
): net.Server {
  if (isWindows) {
    const server = listen(handler, controlPath(process.pid));
    paths.set(server, '');
    return server;
  }
  const refuse = (why: string) => {
    log(
      `control socket disabled: ${why}; the tcp-prefork command cannot drive master ${process.pid} ` +
        `(remove the offending path, or set TMPDIR to a directory only this user can write to)`,
    );
    return net.createServer();
  };
  const dir = controlDir();
  const path = join(dir, `${process.pid}.sock`);
  if (Buffer.byteLength(path) > MAX_PATH) return refuse(`${path} is longer than ${MAX_PATH} bytes`);
  // Twice: another master of ours may remove the (empty) directory between our check and our bind.
  for (let attempt = 0; ; attempt++) {
    try {
      prepareControlDir(dir);
      try {
        unlinkSync(path); // a stale socket of an earlier process with this pid
      } catch {
        /* none */
      }
      const server = listen(handler, path);
      if (!server.listening) {
        if (attempt === 0) continue;
        return refuse(`cannot listen on ${path}`);
      }
      paths.set(server, path);
      try {
        chmodSocket(path);
      } catch (err) {
        closeControl(server);
        throw err;
      }
      sweep(dir, path);
      return server;
    } catch (err) {
      if (err instanceof ControlSocketError) return refuse(err.message);
      if (attempt === 0) continue;
      return refuse(`${path}: ${(err as Error).message}`);
    }
  }
}

function chmodSocket(path: string): void {
  // Already unreachable through the 0700 directory (which only we can write to, so nobody can swap
  // the file); 0600 as a second lock, as HAProxy's admin socket.
  if (!lstatSync(path).isSocket()) throw new ControlSocketError(`${path} is not our socket`);
  chmodSync(path, 0o600);
}

/**
 * Removes the sockets that masters of ours killed with SIGKILL left behind: a
 * `<pid>.sock` whose process is gone and that refuses connections (both, in
 * case a master in another pid namespace shares this directory).
 */
function sweep(dir: string, own: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^(\d+)\.sock$/.exec(name);
    const path = join(dir, name);
    if (!m || path === own) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // alive (or another user's: EPERM)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    const probe = net.connect(path);
    probe.on('connect', () => probe.destroy());
    probe.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNREFUSED') return;
      try {
        unlinkSync(path);
      } catch {
        /* raced */
      }
    });
    probe.unref();
  }
}

/** Stops serving and removes the socket file, and its directory if no other master of ours uses it. */
export function closeControl(server: net.Server): void {
  server.close();
  const path = paths.get(server);
  paths.delete(server);
  if (!path) return;
  try {
    unlinkSync(path);
  } catch {
    /* gone */
  }
  try {
    rmdirSync(dirname(path));
  } catch {
    /* another master's socket is there */
  }
}

/** The paths /proc/net/unix lists for this master's control socket (when our temp directory is not the server's). */
function listedSockets(pid: number, uid: number): string[] {
  if (process.platform !== 'linux') return [];
  const tail = `/tcp-prefork-${uid}/${pid}.sock`;
  try {
    return (
      readFileSync('/proc/net/unix', 'utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        // Listening sockets only (__SO_ACCEPTCON): an accepted connection shows the same path.
        .filter((f) => f.length > 7 && (Number.parseInt(f[3], 16) & 0x10000) !== 0)
        .map((f) => f.slice(7).join(' '))
        .filter((p) => p.startsWith('/') && p.endsWith(tail))
    );
  } catch {
    return [];
  }
}

/** Why the directory of `path` is not to be trusted as uid's control directory, or null if it is (or is missing). */
function distrust(path: string, uid: number): string | null {
  const dir = dirname(path);
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch {
    return null;
  }
  if (st.isSymbolicLink()) return `${dir} is a symlink`;
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not by the server's uid ${uid}`;
  if ((st.mode & 0o777) !== 0o700) return `${dir} has mode ${octal(st.mode)}, not 0700`;
  return null;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** Where the master with this pid listens: under our temp directory, unless /proc/net/unix lists it elsewhere. */
export function findControl(pid: number): { path: string; uid: number } {
  const uid = ownerOf(pid);
  const path = controlPath(pid, uid);
  if (isWindows) return { path, uid };
  // The kernel's list of listening sockets names the path, even when the server runs with another
  // TMPDIR than ours (sudo drops it), and passes over a stale file of a master with a recycled pid.
  const listed = listedSockets(pid, uid);
  if (listed.length === 0 || listed.includes(path)) return { path, uid };
  const other = listed.find((p) => distrust(p, uid) === null && exists(p));
  return { path: other ?? path, uid };
}

/** Sends one command to the master with this pid; rejects if nobody answers. */
export function askControl(pid: number, cmd: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { path, uid } = findControl(pid);
    const unsafe = isWindows ? null : distrust(path, uid);
    if (unsafe) {
      reject(new ControlSocketError(`refusing the control socket of master ${pid}: ${unsafe}`));
      return;
    }
    const socket = net.connect(path);
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
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        const e = new Error(
          `permission denied on the control socket ${path} of master ${pid}: ` +
            `only the server's user (uid ${uid}) or root may drive it`,
        ) as NodeJS.ErrnoException;
        e.code = err.code;
        reject(e);
      } else reject(err);
    });
  });
}
