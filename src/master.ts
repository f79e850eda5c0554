// What only the master does: bind the port, fork and respawn the pool, pass
// the listening handle and the settings to each worker, and turn signals into
// a graceful stop or a rolling reload.
import { fork, type ChildProcess } from 'node:child_process';
import { WorkerExitError } from './errors.js';
import { report, type Handlers } from './events.js';
import { isMessage, WORKER_ENV, type ToMaster, type ToWorker, type WorkerStats } from './ipc.js';
import { bindShared, type BoundHandle } from './listen.js';
import type { Log } from './log.js';
import type { Settings } from './settings.js';

/** Respawn backoff: start, factor, cap, and the uptime after which it resets. */
export const BACKOFF_START_MS = 100;
export const BACKOFF_FACTOR = 2;
export const BACKOFF_MAX_MS = 10_000;
export const BACKOFF_RESET_MS = 30_000;

type State = 'starting' | 'ready' | 'retiring' | 'stopping';

interface WorkerRecord {
  workerId: number;
  child: ChildProcess;
  pid: number;
  state: State;
  startedAt: number;
  /** The master asked it to go (stop, reload): its exit is not respawned. */
  voluntary: boolean;
  killTimer: NodeJS.Timeout | null;
}

interface Slot {
  /** The worker serving this index now (not one retiring). */
  current: WorkerRecord | null;
  delay: number;
  respawnTimer: NodeJS.Timeout | null;
}

export class Master {
  readonly #settings: Settings;
  readonly #handlers: Handlers;
  readonly #log: Log;
  readonly #workers = new Set<WorkerRecord>();
  #slots: Slot[] = [];
  #handle: BoundHandle | null = null;
  #address = '';
  #port = 0;
  #started = false;
  #stopping = false;
  #bySignal = false;
  #resolve: (() => void) | null = null;
  #reject: ((err: Error) => void) | null = null;
  #stopTimer: NodeJS.Timeout | null = null;
  #reloading = false;
  readonly #signals: [NodeJS.Signals, () => void][] = [];
  #statsSeq = 0;
  readonly #statsWaiting = new Map<number, { want: number; got: WorkerStats[]; done: (s: WorkerStats[]) => void }>();
  readonly #respawns = new Map<number, number>();

  constructor(settings: Settings, handlers: Handlers, log: Log) {
    this.#settings = settings;
    this.#handlers = handlers;
    this.#log = log;
  }

  get port(): number {
    return this.#port;
  }

  /** Binds, forks the pool, and resolves once the master has stopped. */
  run(): Promise<void> {
    const st = this.#settings;
    const script = process.argv[1];
    if (!script) return Promise.reject(new Error('run() forks the running script, but process.argv[1] is empty'));
    this.#address = st.get('ip') as string;
    const bound = bindShared(this.#address, st.get('port') as number);
    this.#handle = bound.handle;
    this.#port = bound.port;
    st.set('port', this.#port);

    const name = st.get('master_name') as string;
    process.title = name;
    this.#log.info(`master "${name}" pid ${process.pid} on ${this.#address}:${this.#port}`);

    const n = st.get('process_number') as number;
    this.#slots = Array.from({ length: n }, () => ({ current: null, delay: BACKOFF_START_MS, respawnTimer: null }));
    return new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      for (const [sig, fn] of [
        ['SIGTERM', () => this.#onSignal('SIGTERM')],
        ['SIGINT', () => this.#onSignal('SIGINT')],
        ['SIGUSR1', () => this.reload()],
      ] as [NodeJS.Signals, () => void][]) {
        process.on(sig, fn);
        this.#signals.push([sig, fn]);
      }
      for (let i = 0; i < n; i++) this.#fork(i);
    });
  }

  #onSignal(sig: string): void {
    this.#log.info(`master pid ${process.pid} got ${sig}: stopping`);
    this.#bySignal = true;
    this.stop();
  }

  #fork(workerId: number): WorkerRecord {
    const st = this.#settings;
    const title = `${st.get('worker_name') as string} ${workerId}`;
    // --title names the process from its first instruction and leaves room in
    // argv for the title; inspector flags would collide on one port.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect') && !a.startsWith('--title'));
    const child = fork(process.argv[1], process.argv.slice(2), {
      env: { ...process.env, [WORKER_ENV]: String(workerId) },
      execArgv: [...execArgv, `--title=${title}`],
    });
    const rec: WorkerRecord = {
      workerId, child, pid: child.pid ?? 0, state: 'starting', startedAt: Date.now(), voluntary: false, killTimer: null,
    };
    this.#workers.add(rec);
    this.#slots[workerId].current = rec;
    child.on('message', (msg: unknown) => {
      if (isMessage(msg) && msg.type in this.#dispatch) this.#dispatch[msg.type as ToMaster['type']](rec, msg as never);
    });
    child.on('exit', (code, signal) => this.#onExit(rec, code, signal));
    child.on('error', (err) => report(this.#handlers, err));
    this.#log.info(`worker ${workerId} "${title}" pid ${rec.pid} forked`);
    return rec;
  }

  readonly #dispatch: { [K in ToMaster['type']]: (rec: WorkerRecord, msg: Extract<ToMaster, { type: K }>) => void } = {
    hello: (rec) => {
      const setup: ToWorker = { type: 'setup', settings: this.#settings.serialize().toString('base64'), port: this.#port, shared: true };
      this.#sendTo(rec, setup, this.#handle ?? undefined);
    },
    ready: (rec) => {
      if (rec.state === 'starting') rec.state = 'ready';
      if (this.#stopping) {
        this.#stopWorker(rec);
        return;
      }
      if (!this.#started && this.#slots.every((s) => s.current?.state === 'ready')) {
        this.#started = true;
        const workers = this.#slots.map((s) => s.current!.pid);
        this.#log.info(`listening on ${this.#address}:${this.#port}, master pid ${process.pid}, workers ${workers.join(' ')}`);
        const start = this.#handlers.start;
        if (start) {
          try {
            start({ address: this.#address, port: this.#port, workers });
          } catch (err) {
            report(this.#handlers, err as Error);
          }
        }
      }
    },
    retiring: (rec, msg) => {
      // The worker is leaving on its own (a signal, max_request): replace it now.
      if (rec.state === 'retiring' || rec.state === 'stopping') return;
      rec.state = 'retiring';
      rec.voluntary = true;
      this.#armKill(rec);
      this.#log.info(`worker ${rec.workerId} pid ${rec.pid} retiring (${msg.reason})`);
      if (!this.#stopping && this.#slots[rec.workerId].current === rec) this.#fork(rec.workerId);
    },
    load: () => {},
    handoff: () => {},
    stats: (_rec, msg) => {
      const w = this.#statsWaiting.get(msg.seq);
      if (!w) return;
      w.got.push(msg.stats);
      if (w.got.length >= w.want) {
        this.#statsWaiting.delete(msg.seq);
        w.done(w.got);
      }
    },
  };

  #sendTo(rec: WorkerRecord, msg: ToWorker, handle?: unknown): void {
    if (!rec.child.connected) return;
    try {
      rec.child.send(msg, handle as never, (err) => {
        if (err) this.#log.error(`worker ${rec.workerId} pid ${rec.pid}: ${err.message}`);
      });
    } catch (err) {
      this.#log.error(`worker ${rec.workerId} pid ${rec.pid}: ${(err as Error).message}`);
    }
  }

  #armKill(rec: WorkerRecord): void {
    if (rec.killTimer) return;
    const ms = (this.#settings.get('max_wait_time') as number) * 1000;
    rec.killTimer = setTimeout(() => {
      this.#log.error(`worker ${rec.workerId} pid ${rec.pid} still running after max_wait_time: SIGKILL`);
      rec.child.kill('SIGKILL');
    }, ms);
  }

  #stopWorker(rec: WorkerRecord): void {
    if (rec.state === 'stopping') return;
    rec.state = 'stopping';
    rec.voluntary = true;
    this.#armKill(rec);
    this.#sendTo(rec, { type: 'stop' });
  }

  #onExit(rec: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    this.#workers.delete(rec);
    if (rec.killTimer) clearTimeout(rec.killTimer);
    const slot = this.#slots[rec.workerId];
    if (slot.current === rec) slot.current = null;
    this.#log.info(`worker ${rec.workerId} pid ${rec.pid} exited (code ${code}, signal ${signal})`);
    const exit = this.#handlers.workerExit;
    if (exit) {
      try {
        exit({ workerId: rec.workerId, pid: rec.pid, code, signal });
      } catch (err) {
        report(this.#handlers, err as Error);
      }
    }
    if (this.#stopping) {
      if (this.#workers.size === 0) this.#finish();
      return;
    }
    if (rec.voluntary) return;
    // Unexpected: report it and respawn with backoff, so a crash loop cannot make the master spin.
    this.#respawns.set(rec.workerId, (this.#respawns.get(rec.workerId) ?? 0) + 1);
    report(this.#handlers, new WorkerExitError(rec.workerId, rec.pid, code, signal));
    if (Date.now() - rec.startedAt >= BACKOFF_RESET_MS) slot.delay = BACKOFF_START_MS;
    const delay = slot.delay;
    slot.delay = Math.min(BACKOFF_MAX_MS, slot.delay * BACKOFF_FACTOR);
    this.#log.error(`worker ${rec.workerId} respawns in ${delay} ms`);
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = null;
      if (!this.#stopping && !slot.current) this.#fork(rec.workerId);
    }, delay);
  }

  /** Rolling restart, one worker at a time: the new one listens before the old one stops. */
  reload(): void {
    if (this.#stopping || this.#reloading) return;
    this.#reloading = true;
    this.#log.info(`master pid ${process.pid}: rolling reload`);
    const next = (i: number) => {
      if (this.#stopping || i >= this.#slots.length) {
        this.#reloading = false;
        return;
      }
      const old = this.#slots[i].current;
      const fresh = this.#fork(i);
      const check = () => {
        if (fresh.state === 'ready' || !this.#workers.has(fresh)) {
          fresh.child.off('message', check);
          if (old && this.#workers.has(old)) this.#stopWorker(old);
          next(i + 1);
        }
      };
      fresh.child.on('message', check);
    };
    next(0);
  }

  /** Graceful stop: close the listening socket, drain every worker, exit last. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    for (const slot of this.#slots) {
      if (slot.respawnTimer) clearTimeout(slot.respawnTimer);
    }
    this.#handle?.close();
    this.#handle = null;
    for (const rec of this.#workers) this.#stopWorker(rec);
    if (this.#workers.size === 0) this.#finish();
  }

  #finish(): void {
    if (this.#stopTimer) clearTimeout(this.#stopTimer);
    for (const [sig, fn] of this.#signals) process.off(sig, fn);
    const shutdown = this.#handlers.shutdown;
    if (shutdown) {
      try {
        shutdown();
      } catch (err) {
        report(this.#handlers, err as Error);
      }
    }
    this.#log.info(`master pid ${process.pid} exited`);
    this.#resolve?.();
    // A signal means "terminate": exit even if user code holds the loop open.
    if (this.#bySignal) setTimeout(() => process.exit(0), 50).unref();
  }

  /** Pids of the workers serving now. */
  workers(): number[] {
    return this.#slots.map((s) => s.current?.pid ?? 0).filter((p) => p > 0);
  }

  /** Asks every live worker for its stats. */
  collect(timeoutMs = 2000): Promise<{ workers: WorkerStats[]; respawns: Map<number, number> }> {
    const live = [...this.#workers].filter((r) => r.child.connected);
    const seq = ++this.#statsSeq;
    return new Promise((resolve) => {
      const done = (got: WorkerStats[]) => {
        clearTimeout(timer);
        resolve({ workers: got.sort((a, b) => a.worker - b.worker), respawns: new Map(this.#respawns) });
      };
      const timer = setTimeout(() => {
        const w = this.#statsWaiting.get(seq);
        this.#statsWaiting.delete(seq);
        done(w ? w.got : []);
      }, timeoutMs);
      if (live.length === 0) return done([]);
      this.#statsWaiting.set(seq, { want: live.length, got: [], done });
      for (const rec of live) this.#sendTo(rec, { type: 'stats', seq });
    });
  }

  fail(err: Error): void {
    this.#reject?.(err);
  }
}
