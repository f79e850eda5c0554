// What only a worker does: accept sockets, feed every chunk to the core, run
// the user's callbacks, write the replies, and drain on stop.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import * as S from '../assembly/status.js';
import { adopt, detach, type Handoff } from './balancer.js';
import { core } from './core.js';
import { Connection } from './connection.js';
import { CallbackError, MaxConnError, NoConnectionError, framingError } from './errors.js';
import { report, type Handlers, type Remote } from './events.js';
import { isMessage, type ToMaster, type ToWorker, type WorkerStats } from './ipc.js';
import type { Settings } from './settings.js';

const EMPTY = Buffer.alloc(0);
/** How often a draining worker checks its connections. */
const DRAIN_TICK_MS = 25;
/** How long a stopping worker keeps accepting what is already queued: at least, at most. */
const LISTEN_GRACE_MS = 20;
const LISTEN_GRACE_MAX_MS = 1000;
/** How long a connection we ended may wait for the peer's FIN before it is destroyed. */
const LINGER_MS = 2000;

export type Target = Remote | string;

const CONN = Symbol('tcp-prefork connection');
type Owned = net.Socket & { [CONN]: Connection };

export class Worker {
  readonly #settings: Settings;
  readonly #handlers: Handlers;
  readonly workerId: number;
  readonly #conns = new Map<string, Connection>();
  #current: Connection | null = null;
  /** Replies batched during one connection's delivery (only one delivers at a time). */
  readonly #batch: (string | Uint8Array)[] = [];
  #batchOwner: Connection | null = null;
  #server: net.Server | null = null;
  #seq = 0;
  #stopping = false;
  #listenerClosed = false;
  /** Sockets accepted (or handed on) so far; a stopping worker watches it. */
  #acceptCount = 0;
  #finished = false;
  #resolve: (() => void) | null = null;
  #drainTimer: NodeJS.Timeout | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #deadline = 0;
  /** Connections we ended, or whose peer ended, that still wait for their close. */
  readonly #ending = new Set<Connection>();

  // Config, read once from the master's settings.
  #mode: 'shared' | 'round_robin' | 'hybrid' = 'shared';
  #workers = 1;
  /** Sockets the master sent here (round_robin, hybrid handoffs). */
  #adopted = 0;
  /** hybrid: open connections per worker slot, as the master last said. */
  #loads: number[] = [];
  #loadTimer: NodeJS.Timeout | null = null;
  #raw = true;
  #proxy = false;
  #tls: tls.SecureContext | null = null;
  #http = false;
  #maxConn = Infinity;
  #bufferSize = 2 * 1024 * 1024;
  #heartbeatMs = 0;
  #waitMs = 3000;
  #requestLimit = 0;

  readonly #stats = {
    accepted: 0,
    closed: 0,
    aborted: 0,
    refused: 0,
    messages: 0,
    bytes_in: 0,
    bytes_out: 0,
    errors: {} as Record<string, number>,
  };
  readonly #startedAt = Date.now();
  readonly #core = core();
  /** Date.now() of the data event being handled. */
  #now = 0;

  /** Socket listeners shared by every connection (no closures per connection); the socket carries its Connection. */
  readonly #listeners: {
    data: (this: net.Socket, chunk: Buffer) => void;
    end: (this: net.Socket) => void;
    error: (this: net.Socket) => void;
    close: (this: net.Socket) => void;
  };

  constructor(settings: Settings, handlers: Handlers, workerId: number) {
    this.#settings = settings;
    this.#handlers = handlers;
    this.workerId = workerId;
    const w = this;
    this.#listeners = {
      data(chunk) {
        w.#onData((this as Owned)[CONN], chunk);
      },
      end() {
        w.#onEnd((this as Owned)[CONN]);
      },
      error() {
        (this as Owned)[CONN].aborted = true;
      },
      close() {
        w.#onClose((this as Owned)[CONN]);
      },
    };
  }

  /** Resolves when this worker has stopped. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.#resolve = resolve;
      process.on('message', (msg: unknown, handle: unknown) => {
        if (isMessage(msg) && msg.type in this.#dispatch) {
          this.#dispatch[msg.type as ToWorker['type']](msg as never, handle);
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
    stop: () => this.stop(null),
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
    const protocol = st.get('protocol');
    this.#raw = protocol === 'raw';
    this.#proxy = st.get('proxy_protocol') === true;
    const cert = st.get('ssl_cert_file') as string;
    const key = st.get('ssl_key_file') as string;
    if (cert && key) this.#tls = tls.createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    this.#http = protocol === 'http';
    const maxConn = st.get('max_conn') as number;
    this.#mode = msg.mode;
    this.#workers = st.get('process_number') as number;
    // Where workers accept for themselves, each enforces its share of max_conn.
    this.#maxConn = msg.mode === 'round_robin' ? maxConn : Math.max(1, Math.ceil(maxConn / this.#workers));
    this.#bufferSize = st.get('socket_buffer_size') as number;
    this.#heartbeatMs = (st.get('heartbeat_idle_time') as number) * 1000;
    this.#waitMs = (st.get('max_wait_time') as number) * 1000;
    const maxRequest = st.get('max_request') as number;
    // A random grace of up to half the limit, so workers do not all recycle at once.
    this.#requestLimit = maxRequest > 0 ? maxRequest + Math.floor(Math.random() * (maxRequest / 2 + 1)) : 0;

    const hybrid = msg.mode === 'hybrid';
    const server = net.createServer(
      { noDelay: true, allowHalfOpen: true, pauseOnConnect: hybrid },
      hybrid ? (socket) => this.#acceptOrHand(socket) : (socket) => this.#accept(socket),
    );
    server.on('error', (err) => report(this.#handlers, err));
    this.#server = server;
    if (this.#heartbeatMs > 0) {
      const every = Math.min(1000, Math.max(50, this.#heartbeatMs / 4));
      this.#heartbeatTimer = setInterval(() => this.#heartbeat(), every).unref();
    }
    const ready = () => {
      this.#send({ type: 'ready' });
      this.#call('workerStart', { workerId: this.workerId, pid: process.pid });
    };
    if (handle) {
      server.listen(handle, st.get('backlog') as number, () => {
        const bound = server.address();
        if (typeof bound === 'object' && bound?.port === msg.port) return ready();
        // Not the master's socket (it was never bound): refuse to serve a random port.
        report(this.#handlers, Object.assign(new Error(`worker ${this.workerId} got an unbound socket`), { code: 'EADDRINUSE' }));
        process.exit(1);
      });
    } else {
      ready();
    }
  }

  #call<K extends 'workerStart' | 'workerStop'>(event: K, info: { workerId: number; pid: number }): void {
    const fn = this.#handlers[event];
    if (!fn) return;
    try {
      fn(info);
    } catch (err) {
      report(this.#handlers, new CallbackError(event, err));
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
    const own = this.#conns.size + 1;
    let others = 0;
    for (let i = 0; i < this.#loads.length; i++) if (i !== this.workerId) others += this.#loads[i];
    const limit = Math.ceil(((own + others) / this.#workers) * 1.05) + 5;
    if ((own > limit || own > this.#maxConn) && !this.#stopping && process.connected) {
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
        { type: 'handoff', connections: this.#conns.size, adopted: this.#adopted } satisfies ToMaster,
        handle as never,
        (err: Error | null) => {
          if (!err) handle.close();
        },
      );
    }
  }

  #accept(socket: net.Socket): void {
    this.#acceptCount++;
    if (this.#conns.size >= this.#maxConn) {
      socket.destroy();
      this.#stats.refused++;
      this.#count('ERR_MAX_CONN');
      report(
        this.#handlers,
        new MaxConnError(`max_conn reached (${this.#maxConn} on worker ${this.workerId}); connection refused`),
      );
      return;
    }
    const remote: Remote = {
      ip: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      id: `${this.workerId}-${process.pid}-${++this.#seq}`,
    };
    // TLS runs over the accepted socket; framing sees the decrypted bytes.
    if (this.#tls) socket = new tls.TLSSocket(socket, { isServer: true, secureContext: this.#tls });
    const now = Date.now();
    const conn = new Connection(socket, remote, this.#raw && !this.#proxy ? 0 : this.#core.open(), now);
    this.#conns.set(remote.id, conn);
    this.#stats.accepted++;
    if (this.#mode !== 'shared') this.#reportLoad();
    (socket as Owned)[CONN] = conn;
    socket.on('data', this.#listeners.data);
    socket.on('end', this.#listeners.end);
    socket.on('error', this.#listeners.error);
    socket.on('close', this.#listeners.close);
    // Behind a balancer, accept waits for the PROXY header and the real address.
    if (this.#proxy) conn.proxyPending = true;
    else this.#announce(conn);
  }

  #announce(conn: Connection): void {
    conn.announced = true;
    const accept = this.#handlers.accept;
    if (!accept) return;
    // send() without a target inside accept greets this connection.
    this.#current = conn;
    conn.delivering = true;
    try {
      accept(conn.remote);
    } catch (err) {
      this.#callbackError('accept', err, conn);
    }
    this.#afterDelivery(conn);
  }

  /** The core completed the PROXY header: the real client replaces the balancer in remote. */
  #proxied(conn: Connection): void {
    conn.proxyPending = false;
    const result = this.#core.proxy();
    const remote = conn.remote;
    if (result.src) {
      remote.via = { ip: remote.ip, port: remote.port };
      remote.ip = result.src.ip;
      remote.port = result.src.port;
    }
    this.#announce(conn);
  }

  #onData(conn: Connection, chunk: Buffer): void {
    const now = Date.now();
    this.#now = now;
    conn.lastIn = conn.lastActive = now;
    conn.used = true;
    this.#stats.bytes_in += chunk.length;
    if (conn.closing) return; // read and dropped, so the close sends FIN, not RST
    if (this.#raw && !conn.proxyPending) {
      this.#deliver(conn, chunk, 1);
      return;
    }
    const c = this.#core;
    const n = c.feed(conn.ptr, chunk);
    const error = c.error;
    if (conn.proxyPending && error === S.OK) {
      if (c.proxy().kind === 0) return; // the header is still incomplete
      this.#proxied(conn);
      if (conn.closing) return;
    }
    // When the unfinished message began, for the heartbeat: a peer that trickles
    // a message (slowloris) is not idle, but its message never completes.
    if (n === 0) {
      if (conn.partialSince === 0) conn.partialSince = now;
    } else {
      const last = 3 * (n - 1);
      conn.partialSince = c.frames[last] + c.frames[last + 1] < chunk.length ? now : 0;
    }
    if (n > 0) this.#deliver(conn, chunk, n, this.#raw);
    if (error !== S.OK) {
      const err = framingError(error);
      this.#count(err.code);
      report(this.#handlers, err, conn.remote);
      this.#end(conn);
    }
  }

  /** Delivers n frames of the chunk just fed (raw: the chunk itself). */
  #deliver(conn: Connection, chunk: Buffer, n: number, viaCore = false): void {
    const c = this.#core;
    const raw = this.#raw && !viaCore;
    const receive = this.#handlers.receive;
    const remote = conn.remote;
    this.#current = conn;
    conn.delivering = true;
    for (let i = 0; i < n; i++) {
      if (conn.closing) break;
      if (conn.full || conn.backlog) {
        // The reply queue is at its bound: keep the rest, in order, for when it drains.
        conn.backlog ??= [];
        conn.backlogFlags ??= [];
        for (let j = i; j < n; j++) {
          conn.backlog.push(raw ? chunk : c.message(chunk, j));
          conn.backlogFlags.push(raw ? 0 : c.flags(j));
        }
        break;
      }
      const message = raw ? chunk : c.message(chunk, i);
      if (this.#http) remote.keepAlive = (c.frames[3 * i + 2] & S.FLAG_CLOSE) === 0 && !this.#stopping;
      this.#received();
      if (receive) {
        try {
          receive(message, remote);
        } catch (err) {
          this.#callbackError('receive', err, conn);
          break;
        }
      }
    }
    this.#afterDelivery(conn);
  }

  /** Delivers the messages kept while the reply queue was full. */
  #deliverBacklog(conn: Connection): void {
    const backlog = conn.backlog!;
    const flags = conn.backlogFlags!;
    conn.backlog = conn.backlogFlags = null;
    const receive = this.#handlers.receive;
    const remote = conn.remote;
    this.#current = conn;
    conn.delivering = true;
    let i = 0;
    for (; i < backlog.length; i++) {
      if (conn.closing) break;
      if (conn.full) {
        conn.backlog = backlog.slice(i);
        conn.backlogFlags = flags.slice(i);
        break;
      }
      if (this.#http) remote.keepAlive = (flags[i] & S.FLAG_CLOSE) === 0 && !this.#stopping;
      this.#received();
      if (receive) {
        try {
          receive(backlog[i], remote);
        } catch (err) {
          this.#callbackError('receive', err, conn);
          break;
        }
      }
    }
    this.#afterDelivery(conn);
  }

  #afterDelivery(conn: Connection): void {
    conn.delivering = false;
    this.#current = null;
    this.#flush(conn);
    if (conn.closing) {
      this.#end(conn);
    } else if (conn.full && !conn.waitingDrain) {
      this.#waitDrain(conn);
    }
  }

  #received(): void {
    const n = ++this.#stats.messages;
    if (n === this.#requestLimit) setImmediate(() => this.stop('max_request'));
  }

  /** Writes the batched replies: one write, or one writev when several. */
  #flush(conn: Connection): void {
    if (this.#batchOwner !== conn) return;
    this.#batchOwner = null;
    const batch = this.#batch;
    const socket = conn.socket;
    if (batch.length === 1) {
      socket.write(batch[0]);
    } else {
      socket.cork();
      for (let i = 0; i < batch.length; i++) socket.write(batch[i]);
      socket.uncork();
    }
    batch.length = 0;
    conn.batchBytes = 0;
  }

  /** The queue reached its bound: stop reading, raise bufferFull, resume once it has drained. */
  #waitDrain(conn: Connection): void {
    conn.waitingDrain = true;
    conn.socket.pause();
    this.#emitRemote('bufferFull', conn);
    // A write's callback runs once everything queued before it is flushed.
    conn.socket.write(EMPTY, () => {
      conn.waitingDrain = false;
      if (conn.closed) return;
      conn.full = false;
      this.#emitRemote('bufferDrain', conn);
      if (conn.backlog) this.#deliverBacklog(conn);
      if (!conn.full && !conn.closing) conn.socket.resume();
    });
  }

  #emitRemote(event: 'bufferFull' | 'bufferDrain', conn: Connection): void {
    const fn = this.#handlers[event];
    if (!fn) return;
    try {
      fn(conn.remote);
    } catch (err) {
      this.#callbackError(event, err, conn);
    }
  }

  /** Sends to the connection being served, or to `target` (a remote or its id). */
  send(message: string | Uint8Array, target?: Target): boolean {
    let conn: Connection | null | undefined;
    if (target === undefined) {
      conn = this.#current;
      if (!conn)
        throw new NoConnectionError(
          'send() without a target must be called inside accept or receive; pass the remote (or its id) to reply later',
        );
    } else {
      conn = this.#conns.get(typeof target === 'string' ? target : target?.id);
    }
    if (!conn || conn.closing || conn.closed) return false;
    if (typeof message !== 'string' && !(message instanceof Uint8Array)) {
      throw new TypeError('send() takes a string, Buffer or Uint8Array');
    }
    const bytes = typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength;
    this.#stats.bytes_out += bytes;
    if (conn.delivering) {
      conn.lastActive = this.#now;
      // Inside this connection's delivery: batch, written once the chunk is done.
      this.#batch.push(message);
      this.#batchOwner = conn;
      conn.batchBytes += bytes;
      if (conn.queued() >= this.#bufferSize) conn.full = true;
      return true;
    }
    // From outside that flow (a timer, an async callback): refuse while full.
    if (conn.full) return false;
    conn.lastActive = Date.now();
    conn.socket.write(message);
    if (conn.queued() >= this.#bufferSize) {
      conn.full = true;
      if (!conn.waitingDrain) this.#waitDrain(conn);
    }
    return true;
  }

  /** Closes the connection being served, or `target`, once its replies are flushed. */
  close(target?: Target): boolean {
    let conn: Connection | null | undefined;
    if (target === undefined) {
      conn = this.#current;
      if (!conn)
        throw new NoConnectionError('close() without a target must be called inside a callback; pass the remote (or its id)');
    } else {
      conn = this.#conns.get(typeof target === 'string' ? target : target?.id);
    }
    if (!conn || conn.closing || conn.closed) return false;
    conn.closing = true;
    if (!conn.delivering) this.#end(conn);
    return true;
  }

  /** Ends our side after the replies flush. The socket stays readable so late bytes are drained, not reset. */
  #end(conn: Connection): void {
    conn.closing = true;
    if (conn.closed || conn.endedAt) return;
    this.#flush(conn);
    conn.endedAt = Date.now();
    conn.socket.resume();
    conn.socket.end();
    this.#ending.add(conn);
    this.#startDrainTimer();
  }

  #onEnd(conn: Connection): void {
    // The peer has half-closed: end our side once everything it sent is answered.
    conn.peerEnded = true;
    if (conn.endedAt) return; // both sides have ended: the socket closes by itself
    if (conn.finished(Date.now())) {
      this.#end(conn);
      return;
    }
    this.#ending.add(conn);
    this.#startDrainTimer();
  }

  #onClose(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#conns.delete(conn.remote.id);
    this.#ending.delete(conn);
    if (conn.ptr) this.#core.close(conn.ptr);
    conn.ptr = 0;
    if (conn.aborted) this.#stats.aborted++;
    else this.#stats.closed++;
    if (this.#mode !== 'shared') this.#reportLoad();
    const close = this.#handlers.close;
    if (close && conn.announced) {
      try {
        close(conn.remote);
      } catch (err) {
        report(this.#handlers, new CallbackError('close', err), conn.remote);
      }
    }
    if (this.#stopping && this.#listenerClosed && this.#conns.size === 0) this.#finish();
  }

  /** round_robin: tells the master how many connections are open, at most every 10 ms. */
  #reportLoad(): void {
    if (this.#loadTimer) return;
    this.#loadTimer = setTimeout(() => {
      this.#loadTimer = null;
      this.#send({ type: 'load', connections: this.#conns.size, adopted: this.#adopted });
    }, 10);
  }

  #callbackError(event: string, err: unknown, conn: Connection): void {
    this.#count('ERR_CALLBACK');
    report(this.#handlers, new CallbackError(event, err), conn.remote);
    conn.closing = true;
    if (!conn.delivering) this.#end(conn);
  }

  #count(code: string): void {
    this.#stats.errors[code] = (this.#stats.errors[code] ?? 0) + 1;
  }

  /** Closes connections that sent nothing, or left a message unfinished, for heartbeat_idle_time. */
  #heartbeat(): void {
    const limit = Date.now() - this.#heartbeatMs;
    for (const conn of this.#conns.values()) {
      if (conn.closed) continue;
      if (conn.lastIn <= limit || (conn.partialSince !== 0 && conn.partialSince <= limit)) conn.socket.destroy();
    }
  }

  #startDrainTimer(): void {
    if (!this.#drainTimer) this.#drainTimer = setInterval(() => this.#sweep(), DRAIN_TICK_MS);
  }

  /** Ends connections that are finished, and destroys the ones past their time. */
  #sweep(): void {
    const now = Date.now();
    if (this.#stopping) {
      if (now >= this.#deadline) {
        for (const conn of this.#conns.values()) conn.socket.destroy();
      } else {
        for (const conn of this.#conns.values()) {
          if (!conn.closing && conn.finished(now)) this.#end(conn);
        }
      }
    }
    for (const conn of this.#ending) {
      if (conn.closed) {
        this.#ending.delete(conn);
      } else if (conn.endedAt) {
        if (now - conn.endedAt >= LINGER_MS) conn.socket.destroy();
      } else if (conn.peerEnded && conn.finished(now)) {
        this.#end(conn);
      }
    }
    if (!this.#stopping && this.#ending.size === 0 && this.#drainTimer) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = null;
    }
  }

  /**
   * Stops gracefully: stop accepting, answer and flush what was read, close
   * each connection once it is quiet, then exit. `reason` is null when the
   * master asked; otherwise the master is told so it starts a replacement.
   */
  stop(reason: string | null, waitMs = this.#waitMs): void {
    if (this.#stopping) return;
    this.#stopping = true;
    if (reason !== null && reason !== 'master gone') this.#send({ type: 'retiring', reason });
    // Leave a little of max_wait_time for the close callbacks before the master's SIGKILL.
    this.#deadline = Date.now() + Math.max(0, Math.min(waitMs, this.#waitMs) - 200);
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
      if (this.#conns.size === 0) this.#finish();
    };
    setTimeout(() => setImmediate(closeWhenQueueEmpty), LISTEN_GRACE_MS);
    this.#startDrainTimer();
    this.#sweep();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#drainTimer) clearInterval(this.#drainTimer);
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    if (this.#loadTimer) clearTimeout(this.#loadTimer);
    this.#call('workerStop', { workerId: this.workerId, pid: process.pid });
    this.#resolve?.();
    // Exit even if user code holds the loop; the delay lets stdout flush.
    setTimeout(() => process.exit(0), 50).unref();
    if (process.connected) process.disconnect();
  }

  stats(): WorkerStats {
    const s = this.#stats;
    return {
      pid: process.pid,
      worker: this.workerId,
      connections: this.#conns.size,
      accepted: s.accepted,
      closed: s.closed,
      aborted: s.aborted,
      refused: s.refused,
      messages: s.messages,
      bytes_in: s.bytes_in,
      bytes_out: s.bytes_out,
      errors: { ...s.errors },
      uptime: (Date.now() - this.#startedAt) / 1000,
      rss: process.memoryUsage.rss(),
    };
  }
}
