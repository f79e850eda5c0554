// A worker's connection table: where a chunk enters the core, how its messages
// reach the user's callbacks, how the replies leave (batched into one write),
// and when a connection ends (backpressure, the drain rules, the heartbeat,
// the input budget). Worker extends this class instead of holding one, so the
// hot path (socket 'data' → feed → receive → Server.send → flush) stays on one
// object with no delegating call; the worker's lifecycle plugs in through the
// abstract hooks.
//
// When a connection ends is decided in one place, `#settle`, called whenever
// something it depends on changes: a delivery finished, a callback's promise
// settled, the peer sent its FIN, a drain began. A connection ends once
// nothing it sent is waiting for an answer (no delivery running, no callback
// promise pending, no backlog) and either it is closing (close(), bad input,
// a failed callback, an http request answered with keep-alive off) or the
// peer has half-closed (nothing more can arrive). A worker never reads a
// message it will not answer, so a drain closes an http connection only
// between requests: a request delivered during the drain gets keep-alive off
// and the connection ends after its reply; one that stays idle is closed once
// quiet (`#tick`). Other protocols have no way to tell a client to reconnect:
// they are served through a drain until the peer closes or the deadline. There
// the worker stops reading (no message is taken that would not be answered),
// lets the work in flight finish and flushes, then closes each connection; at
// the hard deadline, just before the master's SIGKILL, it destroys the rest.
import { AsyncLocalStorage } from 'node:async_hooks';
import type net from 'node:net';
import * as S from '../assembly/status.js';
import { core } from './core.js';
import { CLOSED, CLOSING, Connection, ENDED, OPEN } from './connection.js';
import {
  CallbackError,
  InputLimitError,
  NoConnectionError,
  type TcpPreforkError,
  framingError,
  httpErrorReply,
} from './errors.js';
import { isThenable, report, type Handlers, type Remote, type Returns } from './events.js';

const EMPTY = Buffer.alloc(0);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
/** How often a draining worker checks its connections. */
const DRAIN_TICK_MS = 25;
/** How long a connection we ended may wait for the peer's FIN before it is destroyed. */
const LINGER_MS = 2000;
/** Draining http: how long an idle connection must have been quiet to be closed (a busy client gets Connection: close instead). */
const QUIET_MS = 100;
/** Draining http: how long a connection that has sent nothing yet gets for its first request. */
const FRESH_MS = 1000;

/** `async function`s: their awaits keep the connection for send()/close() without a target. */
const AsyncFunction = (async () => {}).constructor;

export type Target = Remote | string;

const CONN = Symbol('tcp-prefork connection');
type Owned = net.Socket & { [CONN]: Connection };

type ConnEvent = 'accept' | 'receive' | 'bufferFull' | 'bufferDrain';

export abstract class Connections {
  protected readonly handlers: Handlers;
  readonly #conns = new Map<string, Connection>();
  /** The connection whose callback is running synchronously. */
  #current: Connection | null = null;
  /** The same across the awaits of an async callback. */
  readonly #context = new AsyncLocalStorage<Connection>();
  /** Replies batched during one connection's delivery (only one delivers at a time). */
  readonly #batch: (string | Uint8Array)[] = [];
  #batchOwner: Connection | null = null;
  #drainTimer: NodeJS.Timeout | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #heartbeatMs = 0;
  /** When a drain stops taking messages (ms), and when it destroys what is left; 0 when none runs. */
  #deadline = 0;
  #hardDeadline = 0;
  #deadlinePassed = false;
  /** Connections we ended that still wait for their close. */
  readonly #ending = new Set<Connection>();
  readonly #core = core();
  /** Date.now() of the data event being handled. */
  #now = 0;

  // Config, set by the worker from the master's settings.
  protected store = 0;
  protected raw = true;
  protected proxy = false;
  protected http = false;
  /** http: answer `Expect: 100-continue` (http_auto_continue), and refused requests with 400/413/431 (http_error_replies). */
  protected autoContinue = true;
  protected errorReplies = true;
  protected bufferSize = 2 * 1024 * 1024;
  /** Bytes of unfinished input the worker may hold over all its connections (0: no bound). */
  protected inputLimit = 0;
  /** Messages after which the worker retires (max_request plus its grace); 0 for none. */
  protected requestLimit = 0;
  /** A graceful stop has begun: keep-alive ends, and connections end once they can. */
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
    const conn = new Connection(socket, remote, this.raw && !this.proxy ? 0 : this.#core.open(this.store), now);
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
    this.#run(conn, 'accept', accept, conn.remote, undefined);
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
    conn.bytesIn += chunk.length;
    this.counters.bytes_in += chunk.length;
    if (conn.state !== OPEN) return; // read and dropped, so the close sends FIN, not RST
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
      if (conn.state !== OPEN) return;
    }
    // When the unfinished message began, for the heartbeat and the drain: a
    // peer that trickles a message (slowloris) is not idle, but its message
    // never completes.
    if (n === 0) {
      if (conn.partialSince === 0) conn.partialSince = now;
    } else {
      const last = 3 * (n - 1);
      conn.partialSince = c.frames[last] + c.frames[last + 1] < chunk.length ? now : 0;
    }
    // A head with `Expect: 100-continue` is complete and its body not begun: the client waits for this.
    const goOn = this.http && conn.partialSince !== 0 && c.expectsContinue(conn.ptr) && this.autoContinue;
    if (n > 0) this.#deliver(conn, chunk, n, this.raw);
    if (error !== S.OK) {
      const err = framingError(error, c.reason(), conn.bytesIn - chunk.length + c.errorAt());
      if (this.http && this.errorReplies && !conn.upgraded) conn.farewell = httpErrorReply(err.reasonId);
      this.#fail(conn, err);
    } else {
      if (goOn && conn.state === OPEN) conn.socket.write(CONTINUE);
      if (this.inputLimit > 0 && conn.partialSince !== 0 && c.heldTotal() > this.inputLimit) this.#overBudget();
    }
  }

  /** Delivers n frames of the chunk just fed (raw: the chunk itself). */
  #deliver(conn: Connection, chunk: Buffer, n: number, viaCore = false): void {
    const c = this.#core;
    const raw = this.raw && !viaCore;
    this.#current = conn;
    conn.delivering = true;
    for (let i = 0; i < n; i++) {
      if (conn.state !== OPEN) break;
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
      if (!this.#receive(conn, raw ? chunk : c.message(chunk, i), raw ? 0 : c.frames[3 * i + 2])) break;
    }
    this.#afterDelivery(conn);
  }

  /** Delivers the messages kept while the reply queue was full. */
  #deliverBacklog(conn: Connection): void {
    const backlog = conn.backlog!;
    const flags = conn.backlogFlags!;
    conn.backlog = conn.backlogFlags = null;
    this.#current = conn;
    conn.delivering = true;
    for (let i = 0; i < backlog.length; i++) {
      if (conn.state !== OPEN) break;
      if (conn.full) {
        conn.backlog = backlog.slice(i);
        conn.backlogFlags = flags.slice(i);
        break;
      }
      if (!this.#receive(conn, backlog[i], flags[i])) break;
    }
    this.#afterDelivery(conn);
  }

  /** One message to the receive callback. Returns false when the callback threw. */
  #receive(conn: Connection, message: Buffer, flags: number): boolean {
    const remote = conn.remote;
    const n = ++this.counters.messages;
    if (n === this.requestLimit) setImmediate(() => this.stop('max_request'));
    let last = false;
    if (this.http) {
      if ((flags & S.FLAG_RAW) !== 0) {
        // Bytes after an upgrade, unframed.
        remote.upgraded = true;
      } else {
        // Keep-alive off (Connection: close, HTTP/1.0, a drain): this request is the connection's last.
        last = (flags & S.FLAG_CLOSE) !== 0 || this.stopping;
        remote.keepAlive = !last;
        // An upgrade (WebSocket, CONNECT): what follows is served like a raw protocol.
        if ((flags & S.FLAG_UPGRADE) !== 0) conn.upgraded = true;
      }
    }
    const receive = this.handlers.receive;
    const ok = receive === undefined || this.#run(conn, 'receive', receive, message, remote);
    if (last && conn.state === OPEN) conn.state = CLOSING;
    return ok;
  }

  /**
   * Runs a callback of this connection. A throw fails the connection; a
   * returned promise is work in flight until it settles, and its rejection
   * fails the connection the same way. An `async function` runs with the
   * connection as its context, so send() and close() without a target find it
   * after an await. Returns false when the callback threw.
   */
  #run<A, B>(conn: Connection, event: ConnEvent, fn: (a: A, b: B) => Returns, a: A, b: B): boolean {
    let r: Returns;
    try {
      r = fn.constructor === AsyncFunction ? this.#context.run(conn, fn, a, b) : fn(a, b);
    } catch (err) {
      this.#callbackFailed(event, err, conn, false);
      return false;
    }
    if (r !== undefined && isThenable(r)) {
      conn.pending++;
      r.then(
        () => this.#promiseSettled(conn),
        (err: unknown) => {
          this.#callbackFailed(event, err, conn, true);
          this.#promiseSettled(conn);
        },
      );
    }
    return true;
  }

  #promiseSettled(conn: Connection): void {
    conn.pending--;
    this.#settle(conn);
  }

  #afterDelivery(conn: Connection): void {
    conn.delivering = false;
    this.#current = null;
    this.#flush(conn);
    if (conn.full && !conn.waitingDrain && conn.state === OPEN) this.#waitDrain(conn);
    this.#settle(conn);
  }

  /** Ends the connection if nothing read waits for an answer and a rule says it may end now (see the top of this file). */
  #settle(conn: Connection): void {
    if (conn.state >= ENDED || !conn.idle()) return;
    if (conn.state === CLOSING || conn.peerEnded) this.#end(conn);
  }

  /** Draining http: an idle connection with no request begun, quiet long enough that no request is likely on its way. */
  #quiet(conn: Connection, now: number): boolean {
    return (
      conn.state === OPEN && conn.idle() && conn.partialSince === 0 && now - conn.lastActive >= (conn.used ? QUIET_MS : FRESH_MS)
    );
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
      if (conn.state >= ENDED) return;
      conn.full = false;
      this.#emitRemote('bufferDrain', conn);
      if (conn.backlog) this.#deliverBacklog(conn);
      if (!conn.full && conn.state === OPEN) conn.socket.resume();
    });
  }

  #emitRemote(event: 'bufferFull' | 'bufferDrain', conn: Connection): void {
    const fn = this.handlers[event];
    if (fn) this.#run(conn, event, fn, conn.remote, undefined);
  }

  /** The connection a call without a target means: the running callback's, also across the awaits of an async one. */
  #here(what: 'send' | 'close'): Connection {
    const conn = this.#current ?? this.#context.getStore();
    if (conn) return conn;
    throw new NoConnectionError(
      what === 'send'
        ? 'send() without a target must be called inside accept or receive; pass the remote (or its id) to reply later'
        : 'close() without a target must be called inside a callback; pass the remote (or its id)',
    );
  }

  /** Sends to the connection being served, or to `target` (a remote or its id). */
  send(message: string | Uint8Array, target?: Target): boolean {
    const conn = target === undefined ? this.#here('send') : this.#conns.get(typeof target === 'string' ? target : target?.id);
    // A closing connection still takes the replies of the work in flight it waits for.
    if (!conn || conn.state >= ENDED) return false;
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

  /** Closes the connection being served, or `target`, once its replies are flushed and its callbacks settled. */
  close(target?: Target): boolean {
    const conn = target === undefined ? this.#here('close') : this.#conns.get(typeof target === 'string' ? target : target?.id);
    if (!conn || conn.state !== OPEN) return false;
    conn.state = CLOSING;
    this.#settle(conn);
    return true;
  }

  /** Ends our side after the replies flush. The socket stays readable so late bytes are drained, not reset. */
  #end(conn: Connection): void {
    if (conn.state >= ENDED) return;
    this.#flush(conn);
    if (conn.farewell !== null) conn.socket.write(conn.farewell);
    conn.state = ENDED;
    conn.endedAt = Date.now();
    conn.socket.resume();
    conn.socket.end();
    this.#ending.add(conn);
    this.#startDrainTimer();
  }

  #onEnd(conn: Connection): void {
    // The peer has half-closed: nothing more can arrive; end our side once everything it sent is answered.
    conn.peerEnded = true;
    this.#settle(conn);
  }

  #onClose(conn: Connection): void {
    if (conn.state === CLOSED) return;
    conn.state = CLOSED;
    this.#conns.delete(conn.remote.id);
    this.#ending.delete(conn);
    this.#release(conn);
    if (conn.aborted) this.counters.aborted++;
    else this.counters.closed++;
    this.loadChanged();
    const close = this.handlers.close;
    if (close && conn.announced) {
      try {
        const r = close(conn.remote);
        if (r !== undefined && isThenable(r)) {
          r.then(undefined, (err: unknown) => this.#report(new CallbackError('close', err, true), conn));
        }
      } catch (err) {
        this.#report(new CallbackError('close', err), conn);
      }
    }
    if (this.stopping && this.#conns.size === 0) this.drained();
  }

  /** Frees the connection's framing state in the core, and what the host held for it. */
  #release(conn: Connection): void {
    if (conn.ptr) this.#core.close(conn.ptr);
    conn.ptr = 0;
  }

  /** Counts and reports an error of this connection. */
  #report(err: TcpPreforkError, conn: Connection): void {
    this.count(err.code);
    report(this.handlers, err, conn.remote);
  }

  #callbackFailed(event: ConnEvent, err: unknown, conn: Connection, rejected: boolean): void {
    if (conn.state === CLOSED) {
      this.#report(new CallbackError(event, err, rejected), conn);
      return;
    }
    this.#fail(conn, new CallbackError(event, err, rejected));
  }

  /**
   * Bad input, a failed callback, a budget: reports `err` and closes this
   * connection only, once what it already sent is answered. Its unfinished
   * input is dropped at once.
   */
  #fail(conn: Connection, err: TcpPreforkError): void {
    this.#report(err, conn);
    this.#release(conn);
    if (conn.state === OPEN) conn.state = CLOSING;
    this.#settle(conn);
  }

  /** Past input_buffer_limit: closes the connections holding the most unfinished input until the worker is under it. */
  #overBudget(): void {
    const c = this.#core;
    const limit = this.inputLimit;
    const holders: [number, Connection][] = [];
    for (const conn of this.#conns.values()) if (conn.ptr !== 0) holders.push([c.holding(conn.ptr), conn]);
    holders.sort((a, b) => b[0] - a[0]);
    for (const [held, conn] of holders) {
      if (c.heldTotal() <= limit || held === 0) break;
      this.#fail(conn, new InputLimitError(held, limit));
    }
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
      if (conn.state === CLOSED) continue;
      if (conn.lastIn <= limit || (conn.partialSince !== 0 && conn.partialSince <= limit)) conn.socket.destroy();
    }
  }

  /**
   * Stopping: ends each connection as soon as it may; at `deadline` stops
   * reading and closes each once its work in flight is done; at `hard`
   * destroys what is left.
   */
  protected drain(deadline: number, hard: number): void {
    this.#deadline = deadline;
    this.#hardDeadline = hard;
    this.#startDrainTimer();
    for (const conn of this.#conns.values()) this.#settle(conn);
  }

  /** Clears the table's timers, so the process can exit. */
  protected stopTimers(): void {
    if (this.#drainTimer) clearInterval(this.#drainTimer);
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
  }

  #startDrainTimer(): void {
    if (!this.#drainTimer) this.#drainTimer = setInterval(() => this.#tick(), DRAIN_TICK_MS);
  }

  /** The drain's clock: quiet http connections, the deadline, and connections lingering after our FIN. */
  #tick(): void {
    const now = Date.now();
    if (this.stopping) {
      if (now >= this.#hardDeadline) {
        for (const conn of this.#conns.values()) conn.socket.destroy();
      } else if (now >= this.#deadline) {
        if (!this.#deadlinePassed) {
          // Stop reading; each connection ends once its work in flight is done and flushed.
          this.#deadlinePassed = true;
          for (const conn of this.#conns.values()) {
            if (conn.state !== OPEN) continue;
            conn.socket.pause();
            conn.state = CLOSING;
            this.#settle(conn);
          }
        }
      } else if (this.http) {
        for (const conn of this.#conns.values()) if (this.#quiet(conn, now)) this.#end(conn);
      }
    }
    for (const conn of this.#ending) {
      if (conn.state === CLOSED) this.#ending.delete(conn);
      else if (now - conn.endedAt >= LINGER_MS) conn.socket.destroy();
    }
    if (!this.stopping && this.#ending.size === 0 && this.#drainTimer) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = null;
    }
  }
}
