// Spawns test servers as real processes, reads their JSON-line events, and
// kills what it started, by PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE = fileURLToPath(new URL('../fixtures/server.mjs', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Event {
  ev: string;
  pid: number;
  [k: string]: unknown;
}

const started = new Set<number>();

export class Proc {
  readonly child: ChildProcess;
  readonly events: Event[] = [];
  stdout = '';
  stderr = '';
  exited: Promise<{ code: number | null; signal: string | null }>;
  #waiters: { pred: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];

  constructor(child: ChildProcess) {
    this.child = child;
    started.add(child.pid!);
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d;
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith('{')) continue;
        let e: Event;
        try {
          e = JSON.parse(line);
        } catch {
          continue;
        }
        this.events.push(e);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.pred(e)) return true;
          w.resolve(e);
          return false;
        });
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        started.delete(child.pid!);
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first event (past or future) matching pred. */
  wait(pred: (e: Event) => boolean, ms = 10_000, what = 'event'): Promise<Event> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}; stdout:\n${this.stdout.slice(-2000)}\nstderr:\n${this.stderr.slice(-2000)}`,
            ),
          ),
        ms,
      );
      this.#waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      });
    });
  }

  waitEv(ev: string, ms?: number, extra: (e: Event) => boolean = () => true): Promise<Event> {
    return this.wait((e) => e.ev === ev && extra(e), ms, ev);
  }

  count(ev: string): number {
    return this.events.filter((e) => e.ev === ev).length;
  }

  kill(sig: NodeJS.Signals = 'SIGTERM'): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      /* gone */
    }
  }
}

export interface FixtureOptions {
  /** Resolve at once instead of waiting for `start`. */
  waitStart?: boolean;
  /** Options for node itself, before the script (e.g. --max-old-space-size=64); the master passes them to its workers. */
  nodeArgs?: string[];
  /** A command that execs node, e.g. ['prlimit', '--nofile=64:64']; the pid stays the master's. */
  wrap?: string[];
  /** Lead a new process group, as a shell's job does, so a test can signal the whole group. */
  detached?: boolean;
  /** More environment for the server (e.g. TCP_PREFORK_NET_SOCKET=1). */
  env?: Record<string, string>;
  /** The node binary to run (default process.execPath), e.g. one a second user may execute. */
  node?: string;
}

/** Starts the fixture server with a config; resolves once it emitted `start`. */
export async function startFixture(
  cfg: Record<string, unknown>,
  opts: FixtureOptions = {},
): Promise<{ proc: Proc; port: number; workers: number[] }> {
  const argv = [opts.node ?? process.execPath, ...(opts.nodeArgs ?? []), FIXTURE];
  const [cmd, ...args] = [...(opts.wrap ?? []), ...argv];
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env, TP_FIXTURE: JSON.stringify(cfg) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const proc = new Proc(child);
  if (opts.waitStart === false) return { proc, port: 0, workers: [] };
  const start = await proc.waitEv('start', 15_000);
  return { proc, port: start.port as number, workers: start.workers as number[] };
}

export function spawnProc(cmd: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Proc(child);
}

/** Every descendant of pid, deepest first. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childrenOf(pid)) out.push(...descendants(c), c);
  return out;
}

/** Kills, by PID, every process these helpers started that is still alive, and its descendants. */
export async function cleanup(): Promise<void> {
  for (const pid of [...started]) {
    for (const d of descendants(pid)) {
      try {
        process.kill(d, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    started.delete(pid);
  }
}

/** PIDs whose parent is pid (from /proc). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* raced */
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill 0; read its state.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function until(pred: () => boolean | Promise<boolean>, ms = 5000, step = 20): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await sleep(step);
  }
  return pred();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP client on loopback that collects everything it reads. */
export class Client {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  closed = false;
  error: Error | null = null;
  readonly ready: Promise<void>;
  readonly done: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (d) => {
      this.data = Buffer.concat([this.data, d]);
    });
    this.socket.on('error', (e) => {
      this.error = e;
    });
    this.done = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static async open(port: number, host?: string): Promise<Client> {
    const c = new Client(port, host);
    await c.ready;
    return c;
  }

  write(b: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(b, (e) => (e ? reject(e) : resolve())));
  }

  async waitBytes(n: number, ms = 5000): Promise<Buffer> {
    await until(() => this.data.length >= n || this.closed, ms, 5);
    return this.data;
  }

  end(): void {
    this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/** Resident set size of a process, in bytes (VmRSS from /proc/PID/status). */
export function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** The pid of the worker that emitted `accept` for the client with this local port. */
export async function servedBy(proc: Proc, localPort: number, ms = 5000): Promise<number> {
  const e = await proc.waitEv('accept', ms, (x) => (x.remote as { port: number }).port === localPort);
  return e.pid;
}

/** A self-signed certificate for 127.0.0.1 (RSA 2048, one day) made with openssl in a fresh temp dir. */
export function selfSignedCert(prefix = 'tp-cert-'): { dir: string; cert: string; key: string } {
  const dir = fs.mkdtempSync(join(tmpdir(), prefix));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  return { dir, cert, key };
}
