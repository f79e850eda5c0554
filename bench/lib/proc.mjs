// Starting and stopping the servers under test, and reading their CPU time
// and memory from /proc. Everything here is bounded in time and addresses
// processes by PID only.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, existsSync } from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let clkTck = 0;
/** Clock ticks per second for /proc/PID/stat utime and stime. */
export function ticksPerSecond() {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/**
 * utime+stime of a process (all its threads), in seconds, or null if gone.
 * The comm field in parentheses may hold spaces and parentheses (the workers
 * set their process title), so the fields are read after the last ')'.
 */
export function cpuSeconds(pid) {
  let s;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond();
}

/** VmRSS of a process in bytes, or null if gone. */
export function rssBytes(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const HAVE_PROC = existsSync('/proc/self/stat');

/** A process is there and not a zombie (/proc); without /proc (macOS), signal 0 answers. */
export function alive(pid) {
  if (!HAVE_PROC) {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The PIDs of a process's children (from /proc/PID/task/* /children). */
export function childPids(pid) {
  const out = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const f = `/proc/${pid}/task/${t}/children`;
      if (!existsSync(f)) continue;
      for (const c of readFileSync(f, 'latin1').trim().split(/\s+/)) if (c) out.push(Number(c));
    }
  } catch {
    // gone
  }
  return out;
}

/** Number of sockets among a process's open file descriptors. */
export function socketFds(pid) {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return null;
  }
  return n;
}

/** Listening TCP port of a process, found with `ss -ltnp` (for a ready line that says port 0). */
function listeningPort(pids) {
  try {
    const out = execFileSync('ss', ['-Hltnp'], { encoding: 'utf8', timeout: 3000 });
    for (const line of out.split('\n')) {
      const users = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
      if (!users.some((p) => pids.includes(p))) continue;
      const m = /\s(\S+):(\d+)\s+\S+:\*/.exec(line);
      if (m) return Number(m[2]);
    }
  } catch {
    // no ss
  }
  return 0;
}

const READY = /^(\w+): (https?):\/\/(\[[^\]]+\]|[^/:]+):(\d+)\/ master pid (\d+), worker pids ([\d, ]+)/;

/** All the servers started and not yet stopped, to clean up on exit. */
const running = new Set();

/**
 * Starts a server command; resolves once it prints its ready line:
 * { kind, scheme, host, port, url, master, workers, child, log }.
 * `cpu` pins it (and the workers it forks) with taskset.
 */
export async function startServer(label, args, { cpu = null, timeoutMs = 15000, env } = {}) {
  const cmd = cpu === null ? process.execPath : 'taskset';
  const argv = cpu === null ? args : ['-c', String(cpu), process.execPath, ...args];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const log = [];
  const keep = (line) => {
    log.push(line);
    if (log.length > 200) log.shift();
  };
  const srv = { label, args, cpu, child, log, master: child.pid, workers: [], port: 0, exited: false };
  running.add(srv);
  child.on('exit', () => {
    srv.exited = true;
  });
  return await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`${label}: no ready line within ${timeoutMs} ms`)), timeoutMs);
    const fail = async (err) => {
      clearTimeout(timer);
      err.message += log.length ? `\n  ${log.slice(-10).join('\n  ')}` : '';
      await stopServer(srv);
      reject(err);
    };
    child.on('error', (err) => fail(err));
    child.on('exit', (code, sig) => {
      if (!srv.port) fail(new Error(`${label}: exited (${code ?? sig}) before it was ready`));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      for (const l of d.split('\n')) if (l) keep(l);
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', async (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        keep(line);
        const m = READY.exec(line);
        if (!m || srv.port) continue;
        clearTimeout(timer);
        srv.kind = m[1];
        srv.scheme = m[2];
        srv.host = m[3];
        srv.master = Number(m[5]);
        srv.workers = m[6]
          .split(',')
          .map((s) => Number(s.trim()))
          .filter(Boolean);
        let port = Number(m[4]);
        // bench/baseline.mjs prints server.address() after server.close(), i.e. port 0
        // with --port 0: find the port its workers listen on.
        for (let i = 0; port === 0 && i < 20; i++) {
          port = listeningPort(srv.workers);
          if (!port) await sleep(50);
        }
        if (!port) return fail(new Error(`${label}: could not find its port`));
        srv.port = port;
        srv.url = `${srv.scheme}://${srv.host}:${port}/`;
        resolve(srv);
      }
    });
  });
}

/** The server's current worker PIDs (the ready line's, refreshed from /proc if one was replaced). */
export function workerPids(srv) {
  if (srv.workers.every(alive)) return srv.workers;
  const kids = childPids(srv.master).filter(alive);
  if (kids.length) srv.workers = kids;
  return srv.workers;
}

/** SIGTERM to the master's PID; SIGKILL by PID to whatever of it is left after the timeout. */
export async function stopServer(srv, timeoutMs = 5000) {
  if (!running.has(srv)) return;
  running.delete(srv);
  const pids = new Set([srv.master, srv.child.pid, ...srv.workers, ...childPids(srv.master)]);
  try {
    process.kill(srv.master, 'SIGTERM');
  } catch {
    // already gone
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && [...pids].some(alive)) await sleep(25);
  for (const pid of pids) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Synchronous last-resort cleanup (process exit): SIGKILL by PID. */
export function killAllSync() {
  for (const srv of running) {
    for (const pid of new Set([srv.master, srv.child.pid, ...srv.workers, ...childPids(srv.master)])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  running.clear();
}

/**
 * Established connections on a local port, counted per owning PID, from
 * `ss -tnp state established '( sport = :PORT )'`. A socket several
 * processes hold (a handle in passing) counts for each of them.
 */
export function establishedByPid(port) {
  const counts = new Map();
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], {
    encoding: 'utf8',
    timeout: 5000,
    maxBuffer: 64 << 20,
  });
  for (const line of out.split('\n')) {
    for (const pid of new Set([...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))) {
      counts.set(pid, (counts.get(pid) ?? 0) + 1);
    }
  }
  return counts;
}

/** Inodes of the established TCP sockets on a local port (`ss -tne`). */
export function portInodes(port) {
  const out = execFileSync('ss', ['-Htne', 'state', 'established', `( sport = :${port} )`], {
    encoding: 'utf8',
    timeout: 5000,
    maxBuffer: 64 << 20,
  });
  return new Set([...out.matchAll(/ino:(\d+)/g)].map((m) => m[1]));
}

/**
 * Of the given socket inodes, how many a process holds open (`held`) and how
 * many it serves (`serving`: the fd is registered in one of its epoll sets,
 * from /proc/PID/fdinfo's tfd lines). A process can hold a socket it does not
 * serve, e.g. a copy left open after passing the handle to another process;
 * libuv registers a socket it reads from, so `serving` tells the real owner.
 */
export function socketOwnership(pid, inodes) {
  const registered = new Set();
  const sockets = new Map();
  let fds;
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return { serving: 0, held: 0 };
  }
  for (const fd of fds) {
    let link;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link === 'anon_inode:[eventpoll]') {
        for (const m of readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1').matchAll(/^tfd:\s+(\d+)/gm)) registered.add(m[1]);
      }
    } catch {
      continue;
    }
    const s = /^socket:\[(\d+)\]$/.exec(link);
    if (s) sockets.set(fd, s[1]);
  }
  let serving = 0,
    held = 0;
  for (const [fd, ino] of sockets) {
    if (!inodes.has(ino)) continue;
    held++;
    if (registered.has(fd)) serving++;
  }
  return { serving, held };
}

/** Busy seconds of one CPU so far (all of /proc/stat's cpuN fields but idle and iowait), or null. */
export function cpuBusySeconds(cpu) {
  try {
    const line = readFileSync('/proc/stat', 'latin1')
      .split('\n')
      .find((l) => l.startsWith(`cpu${cpu} `));
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / ticksPerSecond();
  } catch {
    return null;
  }
}
