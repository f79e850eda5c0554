// What only the master does: bind the port, fork and respawn the pool, pass
// the listening handle and the settings to each worker, and turn signals into
// a graceful stop or a rolling reload.
import { fork, type ChildProcess } from 'node:child_process';
import tls from 'node:tls';
import { InvalidSettingError, WorkerExitError } from './errors.js';
import { afterward, invoke, report, type Handlers } from './events.js';
import { isMessage, Requests, WORKER_ENV, type DispatchMode, type ToMaster, type ToWorker, type WorkerStats } from './ipc.js';
import { handoff, openDispatch, type Dispatch, type Seat } from './dispatch/index.js';
import { migrateReq } from './dispatch/reuseport.js';
import { filterIds, MASTER, ownerOf, pack, packData, type BroadcastFilter, type FilterIds, type Payload } from './messaging.js';
import { probe, type TcpHandle } from './internals.js';
import type net from 'node:net';
import type { Log } from './log.js';
import type { Settings } from './settings.js';
import { closeControl, serveControl } from './control.js';
import { summarize, type ServerStats, type WorkerId } from './stats.js';
import { writeFileSync, unlinkSync, readFileSync } from 'node:fs';

/** Respawn backoff: start, factor, cap, and the uptime after which it resets. */
export const BACKOFF_START_MS = 100;
export const BACKOFF_FACTOR = 2;
export const BACKOFF_MAX_MS = 10_000;
export const BACKOFF_RESET_MS = 30_000;
/**
 * A worker that retires on a signal is replaced after this long, unless the
 * master stops meanwhile: a terminal's Ctrl-C (and systemd's default
 * KillMode) signals the whole process group at once, and the workers' news
 * may reach the master before its own signal does.
 */
export const SIGNAL_RESPAWN_DELAY_MS = 200;
/** The master pings every ready worker this often (one ping outstanding at a time). */
export const HEARTBEAT_MS = 250;
/** A worker whose ping has waited this long is not answering: round_robin and hybrid place nothing on it. */
export const UNRESPONSIVE_MS = 1000;
/** How long stats() (and `tcp-prefork status`) waits for the workers' answers. */
export const STATS_TIMEOUT_MS = 800;

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
  /** The worker as a place to send connections (round_robin, hybrid). */
  seat: Seat & { given: number };
  /** Requests to this worker and their replies (stats, connection handoffs, heartbeat). */
  requests: Requests;
  /** When the heartbeat ping still unanswered was sent (0: none outstanding). */
  pingAt: number;
  /** Its ping has waited UNRESPONSIVE_MS or more: no new connections are placed on it. */
  silent: boolean;
}

interface Slot {
  /** The worker serving this index now (not one retiring). */
  current: WorkerRecord | null;
  delay: number;
  respawnTimer: NodeJS.Timeout | null;
}

/** TLS needs both PEM files, readable; the PROXY header would have to come before the handshake. */
function checkTls(st: Settings): void {
  const cert = st.get('ssl_cert_file') as string;
  const key = st.get('ssl_key_file') as string;
  if (!cert && !key) return;
  if (!cert || !key)
    throw new InvalidSettingError(cert ? 'ssl_key_file' : 'ssl_cert_file', 'both ssl_cert_file and ssl_key_file, or neither');
  if (st.get('proxy_protocol') === true)
    throw new InvalidSettingError('proxy_protocol', 'false when TLS is on (PROXY with TLS is not supported yet)');
  for (const [k, f] of [
    ['ssl_cert_file', cert],
    ['ssl_key_file', key],
  ]) {
    try {
      readFileSync(f);
    } catch (err) {
      throw new InvalidSettingError(k, `a readable PEM file (${(err as NodeJS.ErrnoException).code})`, f);
    }
  }
  tls.createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
}

export class Master {
  readonly #settings: Settings;
  readonly #handlers: Handlers;
  readonly #log: Log;
  readonly #workers = new Set<WorkerRecord>();
  #slots: Slot[] = [];
  #dispatch: Dispatch | null = null;
  #mode: DispatchMode = 'shared';
  #pidFile = '';
  #control: net.Server | null = null;
  readonly #startedAt = Date.now();
  #address = '';
  #port = 0;
  #started = false;
  #stopping = false;
  #bySignal = false;
  #resolve: (() => void) | null = null;
  #reject: ((err: Error) => void) | null = null;
  /** Why the server could not start (a worker could not bind): run() rejects with it once stopped. */
  #failure: Error | null = null;
  #reloading = false;
  readonly #signals: [NodeJS.Signals, () => void][] = [];
  readonly #respawns = new Map<number, number>();
  /** reload_handover: where connections moved (their id names a worker that has exited): id -> pid serving it now. */
  readonly #moved = new Map<string, number>();
  #heartbeat: NodeJS.Timeout | null = null;
  /** Connections the master closed because no worker took them (round_robin, hybrid's handoffs). */
  #refused = 0;

  constructor(settings: Settings, handlers: Handlers, log: Log) {
    this.#settings = settings;
    this.#handlers = handlers;
    this.#log = log;
  }

  get port(): number {
    return this.#port;
  }

  /** Binds, forks the pool, and resolves once the master has stopped. */
  async run(): Promise<void> {
    const st = this.#settings;
    if (!process.argv[1]) throw new Error('run() forks the running script, but process.argv[1] is empty');
    this.#address = st.get('ip') as string;
    checkTls(st);
    const n = st.get('process_number') as number;
    const port = st.get('port') as number;
    // What this Node offers: a missing internal means a fallback, said once here.
    const node = probe();
    for (const m of node.missing) this.#log.info(`this Node (${process.version}) lacks ${m}`);
    // With one worker there is nothing to dispatch: it accepts directly in every mode
    const asked = st.get('dispatch_mode') as DispatchMode;
    // (reuseport keeps its own sockets even then: instances may share the port)
    this.#mode = n > 1 || asked === 'reuseport' ? asked : 'shared';
    if (!node.sharedBind) this.#mode = 'round_robin';
    const where = { ip: this.#address, port, backlog: st.get('backlog') as number, maxConn: st.get('max_conn') as number };
    this.#dispatch = await openDispatch(
      this.#mode,
      where,
      {
        seats: () => [...this.#workers].map((r) => r.seat),
        loads: () => this.#slots.map((s) => (s.current?.state === 'ready' ? s.current.seat.load : 0)),
        tell: (msg) => {
          for (const rec of this.#workers) if (rec.state === 'ready') this.#sendTo(rec, msg);
        },
      },
      (err) => {
        this.#refused++;
        report(this.#handlers, err);
      },
      () => {
        this.#refused++;
      },
    );
    this.#port = this.#dispatch.port;
    st.set('port', this.#port);
    if (this.#mode === 'reuseport') this.#sayMigrate();

    const name = st.get('master_name') as string;
    process.title = name;
    const pidFile = st.get('pid_file') as string;
    if (pidFile) {
      writeFileSync(pidFile, `${process.pid}\n`);
      this.#pidFile = pidFile;
      // A refused control socket is said on stderr whatever log_level says: it is a security refusal.
      this.#control = serveControl((cmd) => this.#command(cmd));
    }
    const on = this.#port === 0 ? 'a port its first worker chooses' : String(this.#port);
    this.#log.info(`master "${name}" pid ${process.pid} on ${this.#address}:${on} (dispatch ${this.#mode})`);

    this.#slots = Array.from({ length: n }, () => ({ current: null, delay: BACKOFF_START_MS, respawnTimer: null }));
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
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
      // reuseport on port 0: the first worker picks the port; the others bind it once it is known.
      const first = this.#mode === 'reuseport' && this.#port === 0 ? 1 : n;
      for (let i = 0; i < first; i++) this.#fork(i);
    });
  }

  /** reuseport: what the kernel does with a closing worker's queue, said once at start-up. */
  #sayMigrate(): void {
    const migrate = migrateReq();
    if (migrate === 1) {
      this.#log.info('net.ipv4.tcp_migrate_req = 1: a worker that stops or reloads hands its queued connections to the others');
    } else {
      this.#log.info(
        `net.ipv4.tcp_migrate_req = ${migrate ?? 'unavailable'}: a worker that stops or reloads resets the connections still in its accept queue; ` +
          '`sysctl -w net.ipv4.tcp_migrate_req=1` (Linux 5.14+) has the kernel move them to the other workers instead',
      );
    }
  }

  /**
   * The heartbeat: pings every ready worker that has no ping outstanding; one
   * whose ping has waited UNRESPONSIVE_MS (stopped, or its event loop blocked)
   * is marked silent, and the balancer places nothing on it until it answers.
   */
  #beat(): void {
    if (this.#stopping) return;
    const now = Date.now();
    for (const rec of this.#workers) {
      if (rec.state !== 'ready' || !rec.child.connected) continue;
      if (rec.pingAt === 0) {
        rec.pingAt = now;
        void rec.requests
          .ask((msg) => this.#sendTo(rec, msg as ToWorker), { type: 'ping' }, false)
          .then((ok) => {
            const waited = Date.now() - rec.pingAt;
            rec.pingAt = 0;
            if (!ok || !rec.silent) return;
            rec.silent = false;
            if (rec.state === 'ready' && !this.#stopping)
              this.#log.info(`worker ${rec.workerId} (pid ${rec.pid}) answering again after ${(waited / 1000).toFixed(1)} s`);
          });
      } else if (!rec.silent && now - rec.pingAt >= UNRESPONSIVE_MS) {
        rec.silent = true;
        const placed =
          this.#mode === 'round_robin' || this.#mode === 'hybrid'
            ? 'no new connections placed on it'
            : `dispatch ${this.#mode}: the kernel, not the master, picks the worker for each connection`;
        this.#log.error(`worker ${rec.workerId} (pid ${rec.pid}) not answering for ${UNRESPONSIVE_MS / 1000} s: ${placed}`);
      }
    }
  }

  /** A worker said how many connections it has open and has accepted in all. */
  #updateLoad(rec: WorkerRecord, msg: { connections: number; adopted: number }): void {
    // Open at the worker when it counted, plus those sent to it and not yet counted there.
    rec.seat.load = msg.connections + Math.max(0, rec.seat.given - msg.adopted);
    this.#dispatch?.loadChanged();
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
      workerId,
      child,
      pid: child.pid ?? 0,
      state: 'starting',
      startedAt: Date.now(),
      voluntary: false,
      killTimer: null,
      seat: {
        load: 0,
        given: 0,
        open: () => rec.state === 'ready' && child.connected,
        responsive: () => !rec.silent,
        // The worker answers { accepted }; until then the master keeps its copy (keepOpen), so the
        // connection is placed elsewhere if this worker refuses it or is gone.
        give: (conn, done) => {
          rec.seat.given++;
          const refused = { accepted: false };
          rec.requests
            .ask(
              (msg) =>
                this.#sendTo(rec, msg as ToWorker, conn.handle, { keepOpen: true }, () => rec.requests.answer(msg.seq, refused)),
              { type: 'conn' },
              refused,
            )
            .then((v) => done((v as { accepted?: unknown }).accepted === true));
        },
      },
      requests: new Requests(),
      pingAt: 0,
      silent: false,
    };
    this.#workers.add(rec);
    this.#slots[workerId].current = rec;
    child.on('message', (msg: unknown, handle: unknown) => {
      if (isMessage(msg) && msg.type in this.#onMessage) this.#onMessage[msg.type as ToMaster['type']](rec, msg as never, handle);
    });
    child.on('exit', (code, signal) => this.#onExit(rec, code, signal));
    child.on('error', (err) => report(this.#handlers, err));
    this.#log.info(`worker ${workerId} "${title}" pid ${rec.pid} forked`);
    return rec;
  }

  readonly #onMessage: {
    [K in ToMaster['type']]: (rec: WorkerRecord, msg: Extract<ToMaster, { type: K }>, handle?: unknown) => void;
  } = {
    hello: (rec) => {
      const setup: ToWorker = {
        type: 'setup',
        settings: this.#settings.serialize().toString('base64'),
        port: this.#port,
        mode: this.#mode,
      };
      this.#sendTo(rec, setup, this.#dispatch?.handle);
    },
    ready: (rec, msg) => {
      if (rec.state === 'starting') rec.state = 'ready';
      if (this.#mode === 'reuseport' && this.#port === 0 && msg.port > 0) {
        // The first worker's port is the server's: the others bind it now.
        this.#port = msg.port;
        if (this.#dispatch) this.#dispatch.port = msg.port;
        this.#settings.set('port', msg.port);
        for (let i = 1; i < this.#slots.length; i++) if (!this.#slots[i].current && !this.#stopping) this.#fork(i);
      }
      if (this.#stopping) {
        this.#stopWorker(rec);
        return;
      }
      if (!this.#started && this.#slots.every((s) => s.current?.state === 'ready')) {
        this.#started = true;
        const workers = this.#slots.map((s) => s.current!.pid);
        this.#log.info(`listening on ${this.#address}:${this.#port}, master pid ${process.pid}, workers ${workers.join(' ')}`);
        invoke(this.#handlers, 'start', this.#handlers.start, { address: this.#address, port: this.#port, workers });
      }
    },
    retiring: (rec, msg) => {
      // The worker is leaving on its own (a signal, max_request): replace it now.
      if (rec.state === 'retiring' || rec.state === 'stopping') return;
      rec.state = 'retiring';
      rec.voluntary = true;
      this.#armKill(rec);
      this.#log.info(`worker ${rec.workerId} pid ${rec.pid} retiring (${msg.reason})`);
      const replace = () => {
        // The slot is still this worker's, or empty if it has already exited.
        const current = this.#slots[rec.workerId].current;
        if (!this.#stopping && (current === rec || current === null)) this.#fork(rec.workerId);
      };
      if (msg.reason.startsWith('SIG')) setTimeout(replace, SIGNAL_RESPAWN_DELAY_MS);
      else replace();
    },
    load: (rec, msg) => this.#updateLoad(rec, msg),
    handoff: (rec, msg, handle) => {
      this.#updateLoad(rec, msg);
      if (!handle) return;
      const conn = handoff(handle as TcpHandle | net.Socket);
      if (this.#dispatch) this.#dispatch.handoff(conn, rec.seat, rec.state === 'ready');
      else conn.close();
    },
    reply: (rec, msg) => rec.requests.answer(msg.seq, msg.value),
    relay: (_rec, msg) => this.#relay(msg.to, msg.pid, msg.data),
    broadcast: (rec, msg) => this.#broadcastTo(msg.data, msg.filter, rec),
    message: (rec, msg) => this.#message(msg.data, msg.to, rec.workerId),
    handover: (rec, msg, handle) => this.#handover(rec, msg, handle),
    gone: (_rec, msg) => this.#moved.delete(msg.id),
    listenFailed: (rec, msg) => {
      const err = Object.assign(
        new Error(`worker ${rec.workerId} cannot listen on ${this.#address}:${this.#port}: ${msg.message}`),
        {
          code: msg.code,
        },
      );
      rec.voluntary = true;
      this.#log.error(err.message);
      if (this.#started) {
        report(this.#handlers, err);
        return;
      }
      // Before the server started: it cannot; run() rejects once everything is stopped.
      this.#failure ??= err;
      this.stop();
    },
  };

  /**
   * Sends to a worker. Returns false when it could not (the worker is gone);
   * `failed` runs if the send fails later. (child.send's own return value only
   * says whether node queued it behind others, as a handle waits for the one
   * before it to be acknowledged.)
   */
  #sendTo(rec: WorkerRecord, msg: ToWorker, handle?: unknown, options?: { keepOpen: boolean }, failed?: () => void): boolean {
    if (!rec.child.connected) return false;
    try {
      rec.child.send(msg, handle as never, options as never, (err) => {
        if (!err) return;
        this.#log.error(`worker ${rec.workerId} pid ${rec.pid}: ${err.message}`);
        failed?.();
      });
      return true;
    } catch (err) {
      this.#log.error(`worker ${rec.workerId} pid ${rec.pid}: ${(err as Error).message}`);
      return false;
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

  /** Asks a worker to stop; `handover`: a reload's, where its connections move to its replacement (reload_handover). */
  #stopWorker(rec: WorkerRecord, handover = false): void {
    if (rec.state === 'stopping') return;
    rec.state = 'stopping';
    rec.voluntary = true;
    this.#armKill(rec);
    const ms = (this.#settings.get('max_wait_time') as number) * 1000;
    this.#sendTo(rec, { type: 'stop', ms, sentAt: Date.now(), handover });
  }

  #onExit(rec: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    this.#workers.delete(rec);
    // What was waiting on it gets its fallback: a connection in transit is placed elsewhere.
    rec.requests.close();
    for (const [id, pid] of this.#moved) if (pid === rec.pid) this.#moved.delete(id);
    if (rec.killTimer) clearTimeout(rec.killTimer);
    const slot = this.#slots[rec.workerId];
    if (slot.current === rec) slot.current = null;
    this.#log.info(`worker ${rec.workerId} pid ${rec.pid} exited (code ${code}, signal ${signal})`);
    invoke(this.#handlers, 'workerExit', this.#handlers.workerExit, { workerId: rec.workerId, pid: rec.pid, code, signal });
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

  /**
   * reload_handover: a connection from a stopping worker goes to the worker
   * that replaced it in its slot. The master keeps its copy of the handle
   * until that worker answers, then tells the old one.
   */
  #handover(rec: WorkerRecord, msg: Extract<ToMaster, { type: 'handover' }>, handle: unknown): void {
    const { seq, type: _, ...moving } = msg;
    const answer = (accepted: boolean) => {
      (handle as { close?: () => void } | undefined)?.close?.();
      this.#sendTo(rec, { type: 'reply', seq, value: { accepted } });
    };
    const target = this.#slots[rec.workerId]?.current;
    if (!handle || !target || target === rec || target.state !== 'ready') {
      answer(false);
      return;
    }
    const refused = { accepted: false };
    target.requests
      .ask(
        (m) => this.#sendTo(target, m as ToWorker, handle, { keepOpen: true }, () => target.requests.answer(m.seq, refused)),
        { type: 'adopt', ...moving },
        refused,
      )
      .then((v) => {
        const accepted = (v as { accepted?: unknown }).accepted === true;
        if (accepted) this.#moved.set(moving.id, target.pid);
        answer(accepted);
      });
  }

  /** A message for connection `to` of the worker with this pid. Returns false when no such worker runs. */
  #relay(to: string, pid: number, data: Payload): boolean {
    // A connection moved by reload_handover is served by another pid than its id says.
    pid = this.#moved.get(to) ?? pid;
    for (const rec of this.#workers) {
      if (rec.pid === pid) return this.#sendTo(rec, { type: 'relay', to, data });
    }
    return false;
  }

  /** A broadcast to every worker's connections but those of `from` (which wrote to its own). */
  #broadcastTo(data: Payload, filter: FilterIds, from: WorkerRecord | null): void {
    for (const rec of this.#workers) if (rec !== from) this.#sendTo(rec, { type: 'broadcast', data, filter });
  }

  /** A worker message (JSON text) to worker `to`, or to the master (-1). */
  #message(json: string, to: number, from: number): boolean {
    if (to === MASTER) {
      invoke(this.#handlers, 'message', this.#handlers.message, JSON.parse(json) as unknown, from);
      return true;
    }
    const rec = this.#slots[to]?.current;
    return rec ? this.#sendTo(rec, { type: 'message', from, data: json }) : false;
  }

  #maxMessage(): number {
    return this.#settings.get('package_max_length') as number;
  }

  /** The master's send: to connection `id` of whichever worker serves it. True once handed on. */
  send(message: string | Uint8Array, id: string): boolean {
    const owner = ownerOf(id);
    return owner !== null && this.#relay(id, owner.pid, pack(message, this.#maxMessage()));
  }

  /** The master's broadcast: every worker's open connections that pass the filter. */
  broadcast(message: string | Uint8Array, filter?: BroadcastFilter): boolean {
    this.#broadcastTo(pack(message, this.#maxMessage()), filterIds(filter), null);
    return true;
  }

  /** The master's sendMessage: a JSON-able value for worker `to`'s message callback. */
  sendMessage(data: unknown, to: number): boolean {
    return this.#message(packData(data, this.#maxMessage()), to, MASTER);
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
          if (old && this.#workers.has(old)) this.#stopWorker(old, this.#settings.get('reload_handover') === true);
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
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    for (const slot of this.#slots) {
      if (slot.respawnTimer) clearTimeout(slot.respawnTimer);
    }
    this.#dispatch?.close();
    for (const rec of this.#workers) this.#stopWorker(rec);
    if (this.#workers.size === 0) this.#finish();
  }

  #finish(): void {
    if (this.#control) closeControl(this.#control);
    if (this.#pidFile) {
      // Only our own pid file: a newer master may have taken the path.
      try {
        if (readFileSync(this.#pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(this.#pidFile);
      } catch {
        /* gone */
      }
    }
    for (const [sig, fn] of this.#signals) process.off(sig, fn);
    // An async shutdown is waited for, up to max_wait_time.
    const done = invoke(this.#handlers, 'shutdown', this.#handlers.shutdown);
    afterward(done, (this.#settings.get('max_wait_time') as number) * 1000, () => {
      this.#log.info(`master pid ${process.pid} exited`);
      if (this.#failure) this.#reject?.(this.#failure);
      else this.#resolve?.();
      // A signal means "terminate": exit even if user code holds the loop open.
      if (this.#bySignal) setTimeout(() => process.exit(0), 50).unref();
    });
  }

  /**
   * Asks every live worker for its stats; a worker that does not answer within
   * `timeoutMs` (stopped, or busy) is listed as `answered: false`, without counters.
   */
  async collect(
    timeoutMs = STATS_TIMEOUT_MS,
  ): Promise<{ workers: (WorkerStats | (WorkerId & { answered: false }))[]; respawns: Map<number, number> }> {
    const live = [...this.#workers].filter((r) => r.child.connected);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    const got = await Promise.all(
      live.map((rec) =>
        Promise.race([
          rec.requests.ask<WorkerStats | null>((msg) => this.#sendTo(rec, msg as ToWorker), { type: 'stats' }, null),
          late,
        ]),
      ),
    );
    clearTimeout(timer);
    const workers = got
      .map((w, i) => w ?? { pid: live[i].pid, worker: live[i].workerId, answered: false as const })
      .sort((a, b) => a.worker - b.worker);
    return { workers, respawns: new Map(this.#respawns) };
  }

  /** Counters of every worker and their total; the master's refusals count in the total's `refused`. */
  async stats(): Promise<ServerStats> {
    const { workers, respawns } = await this.collect();
    return summarize(workers, respawns, (Date.now() - this.#startedAt) / 1000, this.#refused);
  }

  /** A command from the control socket (the tcp-prefork CLI). */
  async #command(cmd: string): Promise<unknown> {
    switch (cmd) {
      case 'ping':
        return { pid: process.pid, name: this.#settings.get('master_name'), port: this.#port, address: this.#address };
      case 'stats':
        return this.stats();
      case 'reload':
        this.reload();
        return { reloading: true };
      case 'stop':
        setImmediate(() => {
          this.#bySignal = true;
          this.stop();
        });
        return { stopping: true };
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }
}
