// A worker's connection table: where a chunk enters the core, how its messages
// reach the user's callbacks, how the replies leave (batched into one write
// per read), and when a connection ends (backpressure, the drain rules, the
// input budget). The worker holds one; the bytes move through each
// connection's Link (link.ts), the clocks live in the Sweeper (sweeper.ts).
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
// quiet. Other protocols have no way to tell a client to reconnect: they are
// served through a drain until the peer closes or the deadline. There the
// worker stops reading (no message is taken that would not be answered), lets
// the work in flight finish and flushes, then closes each connection; at the
// hard deadline, just before the master's SIGKILL, it destroys the rest.
import { AsyncLocalStorage } from 'node:async_hooks';
import * as S from '../assembly/status.js';
import { Backlog, CLOSED, CLOSING, Connection, ENDED, OPEN, type Source } from './connection.js';
import { core } from './core.js';
import {
  CallbackError,
  InputLimitError,
  NoConnectionError,
  TimeoutError,
  TlsError,
  type TcpPreforkError,
  framingError,
  httpErrorReply,
} from './errors.js';
import { isThenable, report, type Handlers, type Remote, type Returns } from './events.js';
import type { Link, LinkEvents } from './link.js';
import { type FilterIds, passes } from './messaging.js';
import type { Settings } from './settings.js';
import { Sweeper } from './sweeper.js';

const EMPTY = Buffer.alloc(0);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
/** Draining http: how long an idle connection must have been quiet to be closed (a busy client gets Connection: close instead). */
const QUIET_MS = 100;
/** Draining http: how long a connection that has sent nothing yet gets for its first request. */
const FRESH_MS = 1000;

/** `async function`s: their awaits keep the connection for send()/close() without a target. */
const AsyncFunction = (async () => {}).constructor;

export type Target = Remote | string;

type ConnEvent = 'accept' | 'adopt' | 'receive' | 'bufferFull' | 'bufferDrain';

/** A raw chunk: one message, the chunk itself. */
class RawChunk implements Source {
  readonly count = 1;
  chunk: Buffer = EMPTY;
  message(): Buffer {
    return this.chunk;
  }
  flags(): number {
    return 0;
  }
}

/** How the table frames and bounds connections: read once from the master's settings. */
export interface TableConfig {
  /** The settings store connections are opened with (the core reads the framing from it). */
  store: number;
  protocol: 'raw' | 'eof' | 'length' | 'http';
  proxy: boolean;
  /** http: answer `Expect: 100-continue` (http_auto_continue), and refused requests with 400/413/431 (http_error_replies). */
  autoContinue: boolean;
  errorReplies: boolean;
  /** socket_buffer_size. */
  bufferSize: number;
  /** Bytes of unfinished input the worker may hold over all its connections (0: no bound). */
  inputLimit: number;
  /** Messages after which the worker retires (max_request plus its grace); 0 for none. */
  requestLimit: number;
}

/** The table's configuration from a worker's settings; `requestLimit` defaults to max_request as set. */
export function tableConfig(st: Settings, requestLimit = st.get('max_request') as number): TableConfig {
  return {
    store: st.store,
    protocol: st.get('protocol') as TableConfig['protocol'],
    proxy: st.get('proxy_protocol') === true,
    autoContinue: st.get('http_auto_continue') === true,
    errorReplies: st.get('http_error_replies') === true,
    bufferSize: st.get('socket_buffer_size') as number,
    inputLimit: st.get('input_buffer_limit') as number,
    requestLimit,
  };
}

/** What the table tells the worker that holds it. */
export interface TableHooks {
  /** A connection opened or closed. */
  loadChanged(): void;
  /** The last connection closed while draining. */
  drained(): void;
  /** max_request was reached. */
  retire(reason: string): void;
  /** A connection taken over from another worker (reload_handover) closed: the master forgets where it moved. */
  adoptedClosed(id: string): void;
}

export class ConnectionTable {
  readonly #handlers: Handlers;
  readonly #hooks: TableHooks;
  readonly #conns = new Map<string, Connection>();
  /** The connection whose callback is running synchronously. */
  #current: Connection | null = null;
  /** The same across the awaits of an async callback. */
  readonly #context = new AsyncLocalStorage<Connection>();
  /** Replies batched during one connection's delivery (only one delivers at a time). */
  readonly #batch: (string | Uint8Array)[] = [];
  #batchOwner: Connection | null = null;
  readonly #core = core();
  readonly #raw = new RawChunk();
  readonly #sweeper: Sweeper;
  /** Date.now() of the read being handled. */
  #now = 0;
  #cfg: TableConfig = {
    store: 0,
    protocol: 'raw',
    proxy: false,
    autoContinue: true,
    errorReplies: true,
    bufferSize: 2 * 1024 * 1024,
    inputLimit: 0,
    requestLimit: 0,
  };
  #raw0 = true;
  #http = false;
  /** A graceful stop has begun: keep-alive ends, and connections end once they can. */
  #draining = false;
  /** reload_handover: while draining, moves a connection that is between messages to the new worker. */
  #handover: ((conn: Connection) => void) | null = null;

  readonly counters = {
    accepted: 0,
    closed: 0,
    aborted: 0,
    refused: 0,
    messages: 0,
    bytes_in: 0,
    bytes_out: 0,
    errors: {} as Record<string, number>,
    relayed: 0,
    relay_gone: 0,
    dropped: 0,
    handed_over: 0,
    adopted: 0,
  };

  /** What every link reports to (one object, no closures per connection). */
  readonly #events: LinkEvents<Connection>;

  constructor(handlers: Handlers, hooks: TableHooks) {
    this.#handlers = handlers;
    this.#hooks = hooks;
    this.#events = {
      data: (conn, chunk) => this.#onData(conn, chunk),
      end: (conn) => this.#onEnd(conn),
      close: (conn, aborted, error) => this.#onClose(conn, aborted, error),
    };
    this.#sweeper = new Sweeper({
      connections: () => this.#conns.values(),
      drainTick: (now) => this.#drainTick(now),
      deadline: () => this.#deadline(),
      timedOut: (conn, kind, seconds) => this.#timedOut(conn, kind, seconds),
    });
  }

  configure(cfg: TableConfig): void {
    this.#cfg = cfg;
    this.#raw0 = cfg.protocol === 'raw';
    this.#http = cfg.protocol === 'http';
  }

  /** Open connections. */
  get size(): number {
    return this.#conns.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Serves a connection; accept runs now, or once the PROXY header has arrived. */
  open(link: Link, remote: Remote): void {
    const cfg = this.#cfg;
    const conn = new Connection(link, remote, this.#raw0 && !cfg.proxy ? 0 : this.#core.open(cfg.store), Date.now());
    this.#conns.set(remote.id, conn);
    this.counters.accepted++;
    this.#hooks.loadChanged();
    link.start(conn, this.#events);
    // Behind a balancer, accept waits for the PROXY header and the real address.
    if (cfg.proxy) conn.proxyPending = true;
    else this.#announce(conn);
  }

  /** A connection refused before it was opened (max_conn, descriptors). */
  refused(code: string): void {
    this.counters.refused++;
    this.count(code);
  }

  #announce(conn: Connection): void {
    conn.announced = true;
    const accept = this.#handlers.accept;
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
    if (this.#raw0 && !conn.proxyPending) {
      const raw = this.#raw;
      raw.chunk = chunk;
      this.#deliver(conn, raw, 0);
      raw.chunk = EMPTY;
      return;
    }
    const c = this.#core;
    const frames = c.frame(conn.ptr, chunk);
    if (conn.proxyPending && frames.error === S.OK) {
      if (c.proxy().kind === 0) {
        // The header is still incomplete: a peer that trickles it is not idle, but never done.
        if (conn.partialSince === 0) conn.partialSince = now;
        return;
      }
      this.#proxied(conn);
      if (conn.state !== OPEN) return;
    }
    // When the unfinished message began, for the heartbeat and the drain: a
    // peer that trickles a message (slowloris) is not idle, but its message
    // never completes.
    if (!frames.unfinished) conn.partialSince = 0;
    else if (frames.count > 0 || conn.partialSince === 0) conn.partialSince = now;
    // A head with `Expect: 100-continue` is complete and its body not begun: the client waits for this.
    const goOn = this.#http && frames.unfinished && c.expectsContinue(conn.ptr) && this.#cfg.autoContinue;
    // Read before delivering: a callback may send, and frame, on another connection.
    const error = frames.error;
    const reason = error === S.OK ? 0 : frames.reason();
    const at = error === S.OK ? 0 : frames.errorAt();
    // (raw behind a PROXY header: the core gives the rest of the chunk as one frame.)
    if (frames.count > 0) this.#deliver(conn, frames, 0);
    if (error !== S.OK) {
      const err = framingError(error, reason, conn.bytesIn - chunk.length + at);
      if (this.#http && this.#cfg.errorReplies && !conn.upgraded) conn.farewell = httpErrorReply(err.reasonId);
      this.#fail(conn, err);
    } else {
      if (goOn && conn.state === OPEN) conn.link.write(CONTINUE);
      const limit = this.#cfg.inputLimit;
      if (limit > 0 && frames.unfinished && c.heldTotal() > limit) this.#overBudget();
    }
  }

  /**
   * The delivery loop: the source's messages from `from` on, to receive, in
   * order, until the reply queue is full (the rest waits in the backlog), the
   * connection is closing, or a callback throws.
   */
  #deliver(conn: Connection, source: Source, from: number): void {
    this.#current = conn;
    conn.delivering = true;
    const n = source.count;
    for (let i = from; i < n; i++) {
      if (conn.state !== OPEN) break;
      if (conn.full) {
        (conn.backlog ??= new Backlog()).keep(source, i);
        break;
      }
      if (!this.#receive(conn, source.message(i), source.flags(i))) break;
    }
    this.#afterDelivery(conn);
  }

  /** One message to the receive callback. Returns false when the callback threw. */
  #receive(conn: Connection, message: Buffer, flags: number): boolean {
    const remote = conn.remote;
    const n = ++this.counters.messages;
    if (n === this.#cfg.requestLimit) setImmediate(() => this.#hooks.retire('max_request'));
    let last = false;
    if (this.#http) {
      if ((flags & S.FLAG_RAW) !== 0) {
        // Bytes after an upgrade, unframed.
        remote.upgraded = true;
      } else {
        // Keep-alive off (Connection: close, HTTP/1.0, a drain): this request is the connection's last.
        last = (flags & S.FLAG_CLOSE) !== 0 || this.#draining;
        remote.keepAlive = !last;
        // An upgrade (WebSocket, CONNECT): what follows is served like a raw protocol.
        if ((flags & S.FLAG_UPGRADE) !== 0) conn.upgraded = true;
      }
    }
    const receive = this.#handlers.receive;
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
    if (conn.state >= ENDED || !conn.idle() || conn.moving) return;
    if (conn.state === CLOSING || conn.peerEnded) this.#end(conn);
    else if (this.#handover !== null && !conn.stays) this.#move(conn);
  }

  /**
   * reload_handover: hands a connection that is between messages (everything
   * read answered, no callback pending) to the new worker, once its replies
   * are out of this process.
   */
  #move(conn: Connection): void {
    if (!conn.announced || conn.link.movable() === null) {
      conn.stays = true;
      return;
    }
    if (conn.queued() > 0) {
      conn.link.flushed(() => this.#settle(conn));
      return;
    }
    conn.moving = true;
    conn.link.pause();
    this.#handover!(conn);
  }

  /** The connection's framing state and unfinished bytes, for the worker that takes it over ('' in raw mode). */
  stateOf(conn: Connection): string {
    return conn.ptr === 0 ? '' : this.#core.save(conn.ptr).toString('base64');
  }

  /** reload_handover: the new worker took the connection. It leaves this table without its close callback. */
  moved(conn: Connection): void {
    if (conn.state === CLOSED) return;
    conn.state = CLOSED;
    this.#conns.delete(conn.remote.id);
    this.#sweeper.closed(conn);
    this.#release(conn);
    conn.link.release();
    this.counters.handed_over++;
    this.#hooks.loadChanged();
    if (this.#draining && this.#conns.size === 0) this.#hooks.drained();
  }

  /** reload_handover: the connection could not move; it stays, and drains as any other. */
  stays(conn: Connection): void {
    conn.moving = false;
    conn.stays = true;
    if (conn.state >= ENDED) return;
    conn.link.resume();
    this.#settle(conn);
  }

  /** reload_handover: serves a connection taken over from the worker this one replaces; `adopt` runs instead of accept. */
  adopt(link: Link, remote: Remote, ptr: number, upgraded: boolean, value: unknown): void {
    const conn = new Connection(link, remote, ptr, Date.now());
    conn.used = true;
    conn.upgraded = upgraded;
    conn.announced = true;
    conn.adopted = true;
    this.#conns.set(remote.id, conn);
    this.counters.adopted++;
    this.#hooks.loadChanged();
    link.start(conn, this.#events);
    const adopt = this.#handlers.adopt;
    if (!adopt) return;
    this.#current = conn;
    conn.delivering = true;
    this.#run(conn, 'adopt', adopt, remote, value);
    this.#afterDelivery(conn);
  }

  /** Opens the framing state a worker it replaces saved (Core.save); 0 when this core cannot take it. */
  restore(state: string): number {
    return this.#core.restore(Buffer.from(state, 'base64'));
  }

  /** Writes the batched replies: one write, or one writev when several. */
  #flush(conn: Connection): void {
    if (this.#batchOwner !== conn) return;
    this.#batchOwner = null;
    const batch = this.#batch;
    if (batch.length === 1) conn.link.write(batch[0]);
    else conn.link.writev(batch.slice());
    batch.length = 0;
    conn.batchBytes = 0;
  }

  /** The queue reached its bound: stop reading, raise bufferFull, resume once it has drained. */
  #waitDrain(conn: Connection): void {
    conn.waitingDrain = true;
    conn.link.pause();
    this.#emitRemote('bufferFull', conn);
    conn.link.flushed(() => {
      conn.waitingDrain = false;
      if (conn.state >= ENDED) return;
      conn.full = false;
      this.#emitRemote('bufferDrain', conn);
      const backlog = conn.backlog;
      if (backlog) {
        conn.backlog = null;
        this.#deliver(conn, backlog, 0);
      }
      if (!conn.full && conn.state === OPEN) conn.link.resume();
    });
  }

  #emitRemote(event: 'bufferFull' | 'bufferDrain', conn: Connection): void {
    const fn = this.#handlers[event];
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
    if (conn.delivering) {
      this.counters.bytes_out += bytes;
      conn.lastActive = this.#now;
      // Inside this connection's delivery: batch, written once the read is done.
      this.#batch.push(message);
      this.#batchOwner = conn;
      conn.batchBytes += bytes;
      if (conn.queued() >= this.#cfg.bufferSize) conn.full = true;
      return true;
    }
    // A reply from this connection's own async callback answers a message already delivered: taken
    // even while full (reading is paused, so no more come). From anywhere else (a timer, another
    // connection): refused while full.
    if (conn.full && this.#context.getStore() !== conn) {
      this.counters.dropped++;
      return false;
    }
    this.counters.bytes_out += bytes;
    conn.lastActive = Date.now();
    conn.link.write(message);
    if (conn.queued() >= this.#cfg.bufferSize) {
      conn.full = true;
      if (!conn.waitingDrain) this.#waitDrain(conn);
    }
    return true;
  }

  /** Whether this table serves connection `id`. */
  has(id: string): boolean {
    return this.#conns.has(id);
  }

  /** A message from another process for connection `id`; one whose connection is gone is counted, not an error. */
  relayed(message: string | Uint8Array, id: string): void {
    if (!this.#conns.has(id)) this.counters.relay_gone++;
    else if (this.send(message, id)) this.counters.relayed++;
  }

  /**
   * Writes to every open connection that passes the filter, as sends from
   * outside their callbacks (a connection whose reply queue is full is skipped
   * and counted in `dropped`). Returns how many took it.
   */
  broadcast(message: string | Uint8Array, filter: FilterIds, relayed = false): number {
    let n = 0;
    for (const conn of this.#conns.values()) {
      if (conn.state >= ENDED || !conn.announced || !passes(filter, conn.remote.id)) continue;
      if (!this.send(message, conn.remote)) continue;
      n++;
      if (relayed) this.counters.relayed++;
    }
    return n;
  }

  /** Closes the connection being served, or `target`, once its replies are flushed and its callbacks settled. */
  close(target?: Target): boolean {
    const conn = target === undefined ? this.#here('close') : this.#conns.get(typeof target === 'string' ? target : target?.id);
    if (!conn || conn.state !== OPEN) return false;
    conn.state = CLOSING;
    this.#settle(conn);
    return true;
  }

  /** Ends our side after the replies flush. The link stays readable so late bytes are drained, not reset. */
  #end(conn: Connection): void {
    if (conn.state >= ENDED) return;
    this.#flush(conn);
    if (conn.farewell !== null) conn.link.write(conn.farewell);
    conn.state = ENDED;
    conn.endedAt = Date.now();
    conn.link.resume();
    conn.link.end();
    this.#sweeper.linger(conn);
  }

  #onEnd(conn: Connection): void {
    // The peer has half-closed: nothing more can arrive; end our side once everything it sent is answered.
    conn.peerEnded = true;
    this.#settle(conn);
  }

  #onClose(conn: Connection, aborted: boolean, error?: Error): void {
    if (conn.state === CLOSED) return;
    // A TLS handshake that failed (plain bytes on a TLS port, say): said and counted.
    if (error !== undefined) this.#report(new TlsError(error), conn);
    conn.state = CLOSED;
    this.#conns.delete(conn.remote.id);
    this.#sweeper.closed(conn);
    this.#release(conn);
    if (aborted) this.counters.aborted++;
    else this.counters.closed++;
    this.#hooks.loadChanged();
    const close = this.#handlers.close;
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
    if (conn.adopted) this.#hooks.adoptedClosed(conn.remote.id);
    if (this.#draining && this.#conns.size === 0) this.#hooks.drained();
  }

  /** Frees the connection's framing state in the core, and what the host held for it. */
  #release(conn: Connection): void {
    if (conn.ptr) this.#core.close(conn.ptr);
    conn.ptr = 0;
  }

  /** Counts and reports an error of this connection. */
  #report(err: TcpPreforkError, conn: Connection): void {
    this.count(err.code);
    report(this.#handlers, err, conn.remote);
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
    const limit = this.#cfg.inputLimit;
    const holders: [number, Connection][] = [];
    for (const conn of this.#conns.values()) if (conn.ptr !== 0) holders.push([c.holding(conn.ptr), conn]);
    holders.sort((a, b) => b[0] - a[0]);
    for (const [held, conn] of holders) {
      if (c.heldTotal() <= limit || held === 0) break;
      this.#fail(conn, new InputLimitError(held, limit));
    }
  }

  /** Counts an error by its code, for stats(). */
  count(code: string): void {
    this.counters.errors[code] = (this.counters.errors[code] ?? 0) + 1;
  }

  /** Closes, from now on, connections that send nothing or leave a message unfinished for `ms`. */
  heartbeat(ms: number): void {
    this.#sweeper.heartbeat(ms);
  }

  /** handshake_timeout and package_timeout, in ms (0: off). */
  timeouts(handshakeMs: number, packageMs: number): void {
    this.#sweeper.timeouts(handshakeMs, packageMs);
  }

  /** A TLS handshake or PROXY header, or an unfinished message, took too long: an error, and the connection goes at once. */
  #timedOut(conn: Connection, kind: 'handshake' | 'package', seconds: number): void {
    if (conn.state >= ENDED) return;
    this.#report(new TimeoutError(kind, seconds), conn);
    conn.link.destroy();
  }

  /**
   * Drains: ends each connection as soon as it may; at `deadline` stops
   * reading and closes each once its work in flight is done; at `hard`
   * destroys what is left.
   */
  drain(deadline: number, hard: number, handover: ((conn: Connection) => void) | null = null): void {
    this.#draining = true;
    this.#handover = handover;
    this.#sweeper.drain(deadline, hard);
    for (const conn of this.#conns.values()) this.#settle(conn);
  }

  /** Draining http: an idle connection with no request begun, quiet long enough that no request is likely on its way. */
  #drainTick(now: number): void {
    if (!this.#http || this.#handover !== null) return;
    for (const conn of this.#conns.values()) {
      if (
        conn.state === OPEN &&
        !conn.upgraded &&
        conn.idle() &&
        conn.partialSince === 0 &&
        now - conn.lastActive >= (conn.used ? QUIET_MS : FRESH_MS)
      ) {
        this.#end(conn);
      }
    }
  }

  /** The drain's deadline: stop reading; each connection ends once its work in flight is done and flushed. */
  #deadline(): void {
    // What has not moved by now closes as in any drain.
    this.#handover = null;
    for (const conn of this.#conns.values()) {
      if (conn.state !== OPEN) continue;
      conn.link.pause();
      conn.state = CLOSING;
      this.#settle(conn);
    }
  }

  /** Clears the table's timers, so the process can exit. */
  stopTimers(): void {
    this.#sweeper.stop();
  }
}
