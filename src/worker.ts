// What only a worker does as a process: take the master's messages (one
// dispatch table), set up from the master's settings, accept sockets (in
// hybrid mode, keep each one or hand it back to the master), stop gracefully,
// and report stats. The connections it serves, and the hot path through them,
// live in connections.ts, which Worker extends.
import net from 'node:net';
import tls from 'node:tls';
import { readdirSync, readFileSync } from 'node:fs';
import { adopt, detach, type Handoff } from './balancer.js';
import { Connections } from './connections.js';
import { MaxConnError } from './errors.js';
import { afterward, invoke, report, type Handlers } from './events.js';
import { PeerRemote } from './remote.js';
import { isMessage, type ToMaster, type ToWorker, type WorkerStats } from './ipc.js';
import type { Settings } from './settings.js';

export type { Target } from './connections.js';

/** How long a stopping worker keeps accepting what is already queued: at least, at most. */
const LISTEN_GRACE_MS = 20;
const LISTEN_GRACE_MAX_MS = 1000;
/** Of max_wait_time, what a stop keeps after its hard deadline: workerStop and the exit, before the master's SIGKILL. */
const STOP_MARGIN_MS = 150;
/** Of max_wait_time, what a stop keeps after it stops reading, for the work in flight (at most; a third of it if less). */
const FINISH_MS = 1000;
/** Descriptors a worker keeps free for itself (IPC, handoffs, TLS, the user's own files) below its open-file limit (at most an eighth of it). */
const FD_RESERVE = 32;

/** The soft open-file limit and the descriptors open now, where /proc tells (Linux). */
function descriptors(): { limit: number; open: number } | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return null;
    return { limit: Number(m[1]), open: readdirSync('/proc/self/fd').length };
  } catch {
    return null;
  }
}

export class Worker extends Connections {
  readonly #settings: Settings;
  readonly workerId: number;
  #server: net.Server | null = null;
  #seq = 0;
  #listenerClosed = false;
  /** Sockets accepted (or handed on) so far; a stopping worker watches it. */
  #acceptCount = 0;
  #finished = false;
  /** When a stop must be over, the exit included (a little before the master's SIGKILL). */
  #stopBy = 0;
  #resolve: (() => void) | null = null;

  // Config, read once from the master's settings.
  #mode: 'shared' | 'round_robin' | 'hybrid' = 'shared';
  #workers = 1;
  /** Sockets the master sent here (round_robin, hybrid handoffs). */
  #adopted = 0;
  /** hybrid: open connections per worker slot, as the master last said. */
  #loads: number[] = [];
  #loadTimer: NodeJS.Timeout | null = null;
  #tls: tls.SecureContext | null = null;
  #maxConn = Infinity;
  #waitMs = 3000;
  readonly #startedAt = Date.now();
  /** The last RSS read: reading it opens a file, which fails at the descriptor limit. */
  #rss = 0;

  constructor(settings: Settings, handlers: Handlers, workerId: number) {
    super(handlers);
    this.#settings = settings;
    this.workerId = workerId;
  }

  /** Resolves when this worker has stopped. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.#resolve = resolve;
      process.on('message', (msg: unknown, handle: unknown) => {
        if (!isMessage(msg) || !(msg.type in this.#dispatch)) return;
        try {
          this.#dispatch[msg.type as ToWorker['type']](msg as never, handle);
        } catch (err) {
          // A message the worker cannot act on costs that message, never the worker.
          report(this.handlers, err as Error);
        }
      });
      // A worker whose master is gone exits: no orphans after SIGKILL to the master.
      process.on('disconnect', () => this.stop('master gone', 1000));
      process.on('SIGTERM', () => this.stop('SIGTERM'));
      process.on('SIGINT', () => this.stop('SIGINT'));
      this.#send({ type: 'hello' });
    });
  }

  readonly #dispatch: { [K in ToWorker['type']]: (msg: Extract<ToWorker, { type: K }>, handle: unknown) => void } = {
    setup: (msg, handle) => this.#setup(msg, handle as object | undefined),
    conn: (_msg, handle) => {
      if (!handle) return;
      const socket = adopt(handle as Handoff);
      this.#adopted++;
      // Served even while stopping: the client is connected, and drain answers it.
      socket.setNoDelay(true);
      this.#accept(socket);
    },
    // A busy worker may read this late: what it has left is counted from when the master sent it.
    stop: (msg) => this.stop(null, msg.ms - Math.max(0, Date.now() - msg.sentAt)),
    loads: (msg) => {
      this.#loads = msg.loads;
    },
    stats: (msg) => this.#send({ type: 'stats', seq: msg.seq, stats: this.stats() }),
  };

  #send(msg: ToMaster): void {
    if (process.connected) process.send!(msg);
  }

  #setup(msg: Extract<ToWorker, { type: 'setup' }>, handle: object | undefined): void {
    const st = this.#settings;
    st.load(Buffer.from(msg.settings, 'base64'));
    this.store = st.store;
    const protocol = st.get('protocol');
    this.raw = protocol === 'raw';
    this.proxy = st.get('proxy_protocol') === true;
    const cert = st.get('ssl_cert_file') as string;
    const key = st.get('ssl_key_file') as string;
    if (cert && key) this.#tls = tls.createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    this.http = protocol === 'http';
    this.autoContinue = st.get('http_auto_continue') === true;
    this.errorReplies = st.get('http_error_replies') === true;
    const maxConn = st.get('max_conn') as number;
    this.#mode = msg.mode;
    this.#workers = st.get('process_number') as number;
    // Where workers accept for themselves, each enforces its share of max_conn.
    this.#maxConn = msg.mode === 'round_robin' ? maxConn : Math.max(1, Math.ceil(maxConn / this.#workers));
    // And never more than its descriptors allow: past them libuv accepts and closes without a word.
    const fds = descriptors();
    if (fds) {
      const spare = Math.min(FD_RESERVE, Math.floor(fds.limit / 8));
      this.#maxConn = Math.max(1, Math.min(this.#maxConn, fds.limit - fds.open - spare));
    }
    this.bufferSize = st.get('socket_buffer_size') as number;
    this.inputLimit = st.get('input_buffer_limit') as number;
    const heartbeatMs = (st.get('heartbeat_idle_time') as number) * 1000;
    this.#waitMs = (st.get('max_wait_time') as number) * 1000;
    const maxRequest = st.get('max_request') as number;
    // A random grace of up to half the limit, so workers do not all recycle at once.
    this.requestLimit = maxRequest > 0 ? maxRequest + Math.floor(Math.random() * (maxRequest / 2 + 1)) : 0;

    const hybrid = msg.mode === 'hybrid';
    const server = net.createServer(
      { noDelay: true, allowHalfOpen: true, pauseOnConnect: hybrid },
      hybrid ? (socket) => this.#acceptOrHand(socket) : (socket) => this.#accept(socket),
    );
    server.on('error', (err) => report(this.handlers, err));
    this.#server = server;
    if (heartbeatMs > 0) this.startHeartbeat(heartbeatMs);
    const ready = () => {
      this.#send({ type: 'ready' });
      invoke(this.handlers, 'workerStart', this.handlers.workerStart, { workerId: this.workerId, pid: process.pid });
    };
    if (handle) {
      server.listen(handle, st.get('backlog') as number, () => {
        const bound = server.address();
        if (typeof bound === 'object' && bound?.port === msg.port) return ready();
        // Not the master's socket (it was never bound): refuse to serve a random port.
        report(this.handlers, Object.assign(new Error(`worker ${this.workerId} got an unbound socket`), { code: 'EADDRINUSE' }));
        process.exit(1);
      });
    } else {
      ready();
    }
  }

  /**
   * hybrid: keeps a socket the kernel gave this worker unless this worker is
   * above its share (5% and 5 connections over a fair split, by the loads the
   * master last sent); then the master hands it to the least-loaded worker,
   * which may be this one again.
   */
  #acceptOrHand(socket: net.Socket): void {
    this.#acceptCount++;
    const own = this.size + 1;
    let others = 0;
    for (let i = 0; i < this.#loads.length; i++) if (i !== this.workerId) others += this.#loads[i];
    const limit = Math.ceil(((own + others) / this.#workers) * 1.05) + 5;
    if ((own > limit || own > this.#maxConn) && !this.stopping && process.connected) {
      this.#handOff(socket);
      return;
    }
    socket.resume();
    this.#accept(socket);
  }

  /** Passes an unread socket to the master, to serve elsewhere. */
  #handOff(socket: net.Socket): void {
    const handle = detach(socket);
    // A raw handle is not closed by send(): close our copy once it is across.
    if (handle) {
      process.send!(
        { type: 'handoff', connections: this.size, adopted: this.#adopted } satisfies ToMaster,
        handle as never,
        (err: Error | null) => {
          if (!err) handle.close();
        },
      );
    }
  }

  #accept(socket: net.Socket): void {
    this.#acceptCount++;
    if (this.size >= this.#maxConn) {
      socket.destroy();
      this.counters.refused++;
      this.count('ERR_MAX_CONN');
      report(
        this.handlers,
        new MaxConnError(`max_conn reached (${this.#maxConn} on worker ${this.workerId}); connection refused`),
      );
      return;
    }
    // The peer address is read on first use, unless a callback may want it after the socket is gone
    // (close, error) or TLS takes the socket over.
    const h = this.handlers;
    const eager = h.close !== undefined || h.error !== undefined || this.#tls !== null;
    const remote = new PeerRemote(socket, `${this.workerId}-${process.pid}-${++this.#seq}`, eager);
    // TLS runs over the accepted socket; framing sees the decrypted bytes.
    if (this.#tls) socket = new tls.TLSSocket(socket, { isServer: true, secureContext: this.#tls });
    this.open(socket, remote);
  }

  /** round_robin and hybrid: tells the master how many connections are open, at most every 10 ms. */
  protected override loadChanged(): void {
    if (this.#mode === 'shared' || this.#loadTimer) return;
    this.#loadTimer = setTimeout(() => {
      this.#loadTimer = null;
      this.#send({ type: 'load', connections: this.size, adopted: this.#adopted });
    }, 10);
  }

  protected override drained(): void {
    if (this.#listenerClosed) this.#finish();
  }

  /**
   * Stops gracefully: stop accepting, answer and flush what was read, close
   * each connection once it is quiet, then exit. `reason` is null when the
   * master asked; otherwise the master is told so it starts a replacement.
   */
  override stop(reason: string | null, waitMs = this.#waitMs): void {
    if (this.stopping) return;
    this.stopping = true;
    if (reason !== null && reason !== 'master gone') this.#send({ type: 'retiring', reason });
    // Within max_wait_time: serve, then stop reading and let the work in flight finish, then
    // destroy what is left, leaving a little for workerStop and the exit before the master's SIGKILL.
    const now = Date.now();
    const wait = Math.max(0, Math.min(waitMs, this.#waitMs) - STOP_MARGIN_MS);
    const hard = now + wait;
    const deadline = hard - Math.min(FINISH_MS, wait / 3);
    this.#stopBy = hard + STOP_MARGIN_MS - 50;
    // Connections already in the accept queue would be reset when the socket
    // closes: keep accepting until a turn of the event loop (whose poll phase
    // accepts everything queued) brings no new one, then close.
    const since = Date.now();
    let seen = -1;
    const closeWhenQueueEmpty = () => {
      const now = Date.now();
      if ((this.#acceptCount !== seen || now - since < LISTEN_GRACE_MS) && now - since < LISTEN_GRACE_MAX_MS) {
        seen = this.#acceptCount;
        setImmediate(closeWhenQueueEmpty);
        return;
      }
      this.#server?.close();
      this.#listenerClosed = true;
      if (this.size === 0) this.#finish();
    };
    setTimeout(() => setImmediate(closeWhenQueueEmpty), LISTEN_GRACE_MS);
    this.drain(deadline, hard);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.stopTimers();
    if (this.#loadTimer) clearTimeout(this.#loadTimer);
    // An async workerStop is waited for, within what is left of max_wait_time.
    const stopped = invoke(this.handlers, 'workerStop', this.handlers.workerStop, { workerId: this.workerId, pid: process.pid });
    afterward(stopped, Math.max(50, this.#stopBy - Date.now()), () => {
      this.#resolve?.();
      // Exit even if user code holds the loop; the delay lets stdout flush.
      setTimeout(() => process.exit(0), 50).unref();
      if (process.connected) process.disconnect();
    });
  }

  /** RSS now, or the last one read when reading fails (EMFILE at the descriptor limit). */
  #readRss(): number {
    try {
      this.#rss = process.memoryUsage.rss();
    } catch {
      // keep the last reading
    }
    return this.#rss;
  }

  stats(): WorkerStats {
    const s = this.counters;
    return {
      pid: process.pid,
      worker: this.workerId,
      connections: this.size,
      accepted: s.accepted,
      closed: s.closed,
      aborted: s.aborted,
      refused: s.refused,
      messages: s.messages,
      bytes_in: s.bytes_in,
      bytes_out: s.bytes_out,
      errors: { ...s.errors },
      uptime: (Date.now() - this.#startedAt) / 1000,
      rss: this.#readRss(),
    };
  }
}
