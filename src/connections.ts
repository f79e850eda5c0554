// A worker's connection table: where a chunk enters the core, how its messages
// reach the user's callbacks, how the replies leave (batched into one write),
// and when a connection ends (backpressure, the drain rules, the heartbeat).
// Worker extends this class instead of holding one, so the hot path (socket
// 'data' → feed → receive → Server.send → flush) stays on one object with no
// delegating call; the worker's lifecycle plugs in through the abstract hooks.
import type net from 'node:net';
import * as S from '../assembly/status.js';
import { core } from './core.js';
import { Connection } from './connection.js';
import { CallbackError, NoConnectionError, framingError } from './errors.js';
import { report, type Handlers, type Remote } from './events.js';

const EMPTY = Buffer.alloc(0);
/** How often a draining worker checks its connections. */
const DRAIN_TICK_MS = 25;
/** How long a connection we ended may wait for the peer's FIN before it is destroyed. */
const LINGER_MS = 2000;

export type Target = Remote | string;

const CONN = Symbol('tcp-prefork connection');
type Owned = net.Socket & { [CONN]: Connection };

export abstract class Connections {
  protected readonly handlers: Handlers;
  readonly #conns = new Map<string, Connection>();
  #current: Connection | null = null;
  /** Replies batched during one connection's delivery (only one delivers at a time). */
  readonly #batch: (string | Uint8Array)[] = [];
  #batchOwner: Connection | null = null;
  #drainTimer: NodeJS.Timeout | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #heartbeatMs = 0;
  #deadline = 0;
  /** Connections we ended, or whose peer ended, that still wait for their close. */
  readonly #ending = new Set<Connection>();
  readonly #core = core();
  /** Date.now() of the data event being handled. */
  #now = 0;

  // Config, set by the worker from the master's settings.
  protected raw = true;
  protected proxy = false;
  protected http = false;
  protected bufferSize = 2 * 1024 * 1024;
  /** Messages after which the worker retires (max_request plus its grace); 0 for none. */
  protected requestLimit = 0;
  /** A graceful stop has begun: keep-alive ends, and quiet connections are closed. */
  protected stopping = false;

  protected readonly counters = {
    accepted: 0,
    closed: 0,
    aborted: 0,
    refused: 0,
    messages: 0,
    bytes_in: 0,
    bytes_out: 0,
    errors: {} as Record<string, number>,
  };

  /** Socket listeners shared by every connection (no closures per connection); the socket carries its Connection. */
  readonly #listeners: {
    data: (this: net.Socket, chunk: Buffer) => void;
    end: (this: net.Socket) => void;
    error: (this: net.Socket) => void;
    close: (this: net.Socket) => void;
  };

  constructor(handlers: Handlers) {
    this.handlers = handlers;
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

  /** Stops the worker gracefully; the table calls it once max_request is reached. */
  abstract stop(reason: string | null, waitMs?: number): void;
  /** A connection opened or closed. */
  protected abstract loadChanged(): void;
  /** The last connection closed while stopping. */
  protected abstract drained(): void;

  /** Open connections. */
  protected get size(): number {
    return this.#conns.size;
  }

  /** Serves an accepted socket; accept runs now, or once the PROXY header has arrived. */
  protected open(socket: net.Socket, remote: Remote): void {
    const now = Date.now();
    const conn = new Connection(socket, remote, this.raw && !this.proxy ? 0 : this.#core.open(), now);
    this.#conns.set(remote.id, conn);
    this.counters.accepted++;
    this.loadChanged();
    (socket as Owned)[CONN] = conn;
    socket.on('data', this.#listeners.data);
    socket.on('end', this.#listeners.end);
    socket.on('error', this.#listeners.error);
    socket.on('close', this.#listeners.close);
    // Behind a balancer, accept waits for the PROXY header and the real address.
    if (this.proxy) conn.proxyPending = true;
    else this.#announce(conn);
  }

  #announce(conn: Connection): void {
    conn.announced = true;
    const accept = this.handlers.accept;
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
    this.counters.bytes_in += chunk.length;
    if (conn.closing) return; // read and dropped, so the close sends FIN, not RST
    if (this.raw && !conn.proxyPending) {
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
    if (n > 0) this.#deliver(conn, chunk, n, this.raw);
    if (error !== S.OK) {
      const err = framingError(error);
      this.count(err.code);
      report(this.handlers, err, conn.remote);
      this.#end(conn);
    }
  }

  /** Delivers n frames of the chunk just fed (raw: the chunk itself). */
  #deliver(conn: Connection, chunk: Buffer, n: number, viaCore = false): void {
    const c = this.#core;
    const raw = this.raw && !viaCore;
    const receive = this.handlers.receive;
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
      if (this.http) remote.keepAlive = (c.frames[3 * i + 2] & S.FLAG_CLOSE) === 0 && !this.stopping;
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
    const receive = this.handlers.receive;
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
      if (this.http) remote.keepAlive = (flags[i] & S.FLAG_CLOSE) === 0 && !this.stopping;
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
    const n = ++this.counters.messages;
    if (n === this.requestLimit) setImmediate(() => this.stop('max_request'));
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
    const fn = this.handlers[event];
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
    this.counters.bytes_out += bytes;
    if (conn.delivering) {
      conn.lastActive = this.#now;
      // Inside this connection's delivery: batch, written once the chunk is done.
      this.#batch.push(message);
      this.#batchOwner = conn;
      conn.batchBytes += bytes;
      if (conn.queued() >= this.bufferSize) conn.full = true;
      return true;
    }
    // From outside that flow (a timer, an async callback): refuse while full.
    if (conn.full) return false;
    conn.lastActive = Date.now();
    conn.socket.write(message);
    if (conn.queued() >= this.bufferSize) {
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
    if (conn.aborted) this.counters.aborted++;
    else this.counters.closed++;
    this.loadChanged();
    const close = this.handlers.close;
    if (close && conn.announced) {
      try {
        close(conn.remote);
      } catch (err) {
        report(this.handlers, new CallbackError('close', err), conn.remote);
      }
    }
    if (this.stopping && this.#conns.size === 0) this.drained();
  }

  #callbackError(event: string, err: unknown, conn: Connection): void {
    this.count('ERR_CALLBACK');
    report(this.handlers, new CallbackError(event, err), conn.remote);
    conn.closing = true;
    if (!conn.delivering) this.#end(conn);
  }

  /** Counts an error by its code, for stats(). */
  protected count(code: string): void {
    this.counters.errors[code] = (this.counters.errors[code] ?? 0) + 1;
  }

  /** Closes, from now on, connections that send nothing or leave a message unfinished for `ms`. */
  protected startHeartbeat(ms: number): void {
    this.#heartbeatMs = ms;
    const every = Math.min(1000, Math.max(50, ms / 4));
    this.#heartbeatTimer = setInterval(() => this.#heartbeat(), every).unref();
  }

  #heartbeat(): void {
    const limit = Date.now() - this.#heartbeatMs;
    for (const conn of this.#conns.values()) {
      if (conn.closed) continue;
      if (conn.lastIn <= limit || (conn.partialSince !== 0 && conn.partialSince <= limit)) conn.socket.destroy();
    }
  }

  /** Stopping: ends each connection once it is finished, and destroys what is left at `deadline`. */
  protected drain(deadline: number): void {
    this.#deadline = deadline;
    this.#startDrainTimer();
    this.#sweep();
  }

  /** Clears the table's timers, so the process can exit. */
  protected stopTimers(): void {
    if (this.#drainTimer) clearInterval(this.#drainTimer);
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
  }

  #startDrainTimer(): void {
    if (!this.#drainTimer) this.#drainTimer = setInterval(() => this.#sweep(), DRAIN_TICK_MS);
  }

  /** Ends connections that are finished, and destroys the ones past their time. */
  #sweep(): void {
    const now = Date.now();
    if (this.stopping) {
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
    if (!this.stopping && this.#ending.size === 0 && this.#drainTimer) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = null;
    }
  }
}
