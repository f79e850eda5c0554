// What only a worker does as a process: take the master's messages (one
// dispatch table), set up from the master's settings, accept connections (in
// hybrid mode, keep each one or hand it back to the master), stop gracefully,
// and report stats. The connections it serves, and the hot path through them,
// are its ConnectionTable (connections.ts); each connection's bytes move
// through a Link (link.ts): libuv's handle directly where this Node allows it,
// a net.Socket for TLS and otherwise.
import net from 'node:net';
import tls from 'node:tls';
import { readdirSync, readFileSync } from 'node:fs';
import { ConnectionTable, tableConfig, type Target } from './connections.js';
import { filterIds, MASTER, ownerOf, pack, packData, unpack, type BroadcastFilter } from './messaging.js';
import type { Connection } from './connection.js';
import { CallbackError, MaxConnError } from './errors.js';
import { afterward, invoke, report, type Handlers } from './events.js';
import { acceptHandles, detach, handleOf, isTcpHandle, type TcpHandle } from './internals.js';
import { HandleLink, SocketLink, type Link } from './link.js';
import { overShare } from './dispatch/hybrid.js';
import { PeerRemote } from './remote.js';
import { isMessage, Requests, type DispatchMode, type Moving, type ToMaster, type ToWorker, type WorkerStats } from './ipc.js';
import type { Settings } from './settings.js';

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

/** Where connections come from: a listening libuv handle we accept on ourselves, a net.Server, or the master alone. */
type Listener = { kind: 'handle'; handle: TcpHandle } | { kind: 'server'; server: net.Server } | null;

export class Worker {
  readonly #settings: Settings;
  readonly #handlers: Handlers;
  readonly workerId: number;
  readonly #table: ConnectionTable;
  #listener: Listener = null;
  #seq = 0;
  #listenerClosed = false;
  /** Connections accepted (or handed on) so far; a stopping worker watches it. */
  #acceptCount = 0;
  #stopping = false;
  #finished = false;
  /** When a stop must be over, the exit included (a little before the master's SIGKILL). */
  #stopBy = 0;
  #resolve: (() => void) | null = null;
  /** Requests to the master and their replies. */
  readonly #requests = new Requests();

  // Config, read once from the master's settings.
  #mode: DispatchMode = 'shared';
  #workers = 1;
  /** Serve connections from libuv handles (false: net.Socket, for TLS or a Node without the internals). */
  #handles = false;
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
    this.#settings = settings;
    this.#handlers = handlers;
    this.workerId = workerId;
    this.#table = new ConnectionTable(handlers, {
      loadChanged: () => this.#loadChanged(),
      drained: () => {
        if (this.#listenerClosed) this.#finish();
      },
      retire: (reason) => this.stop(reason),
      adoptedClosed: (id) => this.#send({ type: 'gone', id }),
    });
  }

  /** The connection table: close() of the Server facade goes there. */
  get table(): ConnectionTable {
    return this.#table;
  }

  /** The most a message for another process may hold (package_max_length). */
  #maxMessage(): number {
    return this.#settings.get('package_max_length') as number;
  }

  /**
   * Sends to the connection being served, or to `target` on any worker: this
   * worker's own connections directly, another worker's through the master
   * (true once handed on; one gone by then is counted there).
   */
  send(message: string | Uint8Array, target?: Target): boolean {
    if (target !== undefined) {
      const id = typeof target === 'string' ? target : target?.id;
      const owner = typeof id === 'string' && !this.#table.has(id) ? ownerOf(id) : null;
      if (owner !== null && owner.pid !== process.pid) {
        if (!process.connected) return false;
        this.#send({ type: 'relay', to: id as string, pid: owner.pid, data: pack(message, this.#maxMessage()) });
        return true;
      }
    }
    return this.#table.send(message, target);
  }

  /** Writes to every open connection of every worker that passes the filter: this worker's now, the others' through the master. */
  broadcast(message: string | Uint8Array, filter?: BroadcastFilter): boolean {
    const ids = filterIds(filter);
    const data = pack(message, this.#maxMessage());
    this.#table.broadcast(message, ids);
    if (process.connected) this.#send({ type: 'broadcast', data, filter: ids });
    return true;
  }

  /** A JSON-able value for another worker's (or the master's, -1) `message` callback. */
  sendMessage(data: unknown, to: number): boolean {
    const json = packData(data, this.#maxMessage());
    if (!Number.isInteger(to) || to < MASTER || to >= this.#workers) return false;
    if (to === this.workerId) {
      invoke(this.#handlers, 'message', this.#handlers.message, JSON.parse(json) as unknown, this.workerId);
      return true;
    }
    if (!process.connected) return false;
    this.#send({ type: 'message', to, data: json });
    return true;
  }

  /** Resolves when this worker has stopped. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.#resolve = resolve;
      process.on('message', (msg: unknown, handle: unknown) => {
        if (!isMessage(msg) || !(msg.type in this.#onMessage)) return;
        try {
          this.#onMessage[msg.type as ToWorker['type']](msg as never, handle);
        } catch (err) {
          // A message the worker cannot act on costs that message, never the worker.
          report(this.#handlers, err as Error);
        }
      });
      // A worker whose master is gone exits: no orphans after SIGKILL to the master.
      process.on('disconnect', () => this.stop('master gone', 1000));
      process.on('SIGTERM', () => this.stop('SIGTERM'));
      process.on('SIGINT', () => this.stop('SIGINT'));
      this.#send({ type: 'hello' });
    });
  }

  readonly #onMessage: { [K in ToWorker['type']]: (msg: Extract<ToWorker, { type: K }>, handle: unknown) => void } = {
    setup: (msg, handle) => this.#setup(msg, handle),
    conn: (msg, handle) => {
      // Served even while stopping: the client is connected, and the drain answers it. The answer
      // lets the master drop its copy, or place the connection elsewhere when this worker refuses it.
      const accepted = handle ? this.#adopt(handle as TcpHandle | net.Socket) : false;
      this.#reply(msg.seq, { accepted });
    },
    // A busy worker may read this late: what it has left is counted from when the master sent it.
    stop: (msg) => this.stop(null, msg.ms - Math.max(0, Date.now() - msg.sentAt), msg.handover),
    adopt: (msg, handle) => this.#reply(msg.seq, { accepted: this.#adoptMoved(msg, handle) }),
    loads: (msg) => {
      this.#loads = msg.loads;
    },
    stats: (msg) => this.#reply(msg.seq, this.stats()),
    ping: (msg) => this.#reply(msg.seq, true),
    relay: (msg) => this.#table.relayed(unpack(msg.data), msg.to),
    broadcast: (msg) => this.#table.broadcast(unpack(msg.data), msg.filter, true),
    message: (msg) => invoke(this.#handlers, 'message', this.#handlers.message, JSON.parse(msg.data) as unknown, msg.from),
    reply: (msg) => this.#requests.answer(msg.seq, msg.value),
  };

  #send(msg: ToMaster): void {
    if (process.connected) process.send!(msg);
  }

  #reply(seq: number, value: unknown): void {
    this.#send({ type: 'reply', seq, value });
  }

  #setup(msg: Extract<ToWorker, { type: 'setup' }>, handle: unknown): void {
    const st = this.#settings;
    st.load(Buffer.from(msg.settings, 'base64'));
    const cert = st.get('ssl_cert_file') as string;
    const key = st.get('ssl_key_file') as string;
    if (cert && key) this.#tls = tls.createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    this.#handles = this.#tls === null && HandleLink.available();
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
    this.#waitMs = (st.get('max_wait_time') as number) * 1000;
    const maxRequest = st.get('max_request') as number;
    // A random grace of up to half max_request, so workers do not all recycle at once.
    this.#table.configure(tableConfig(st, maxRequest > 0 ? maxRequest + Math.floor(Math.random() * (maxRequest / 2 + 1)) : 0));
    const heartbeatMs = (st.get('heartbeat_idle_time') as number) * 1000;
    if (heartbeatMs > 0) this.#table.heartbeat(heartbeatMs);
    this.#table.timeouts((st.get('handshake_timeout') as number) * 1000, (st.get('package_timeout') as number) * 1000);
    const ready = (port = msg.port) => {
      this.#send({ type: 'ready', port });
      invoke(this.#handlers, 'workerStart', this.#handlers.workerStart, { workerId: this.workerId, pid: process.pid });
    };
    const backlog = st.get('backlog') as number;
    if (msg.mode === 'reuseport') {
      this.#listenReusePort(st.get('ip') as string, msg.port, backlog, ready);
      return;
    }
    if (!handle) {
      ready();
      return;
    }
    if (this.#handles && isTcpHandle(handle)) {
      // Accept on libuv's handle ourselves: no net.Server, no net.Socket per connection.
      const h = handle as TcpHandle;
      h.onconnection = (err, client) => this.#onConnection(err, client);
      const err = h.listen(backlog);
      this.#listener = { kind: 'handle', handle: h };
      if (err === 0 && this.#boundTo(h, msg.port)) {
        ready();
        return;
      }
    } else {
      const hybrid = msg.mode === 'hybrid';
      const server = net.createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: hybrid }, (socket) =>
        this.#accept(socket),
      );
      server.on('error', (err) => report(this.#handlers, err));
      this.#listener = { kind: 'server', server };
      server.listen(handle as object, backlog, () => {
        const h = handleOf(server);
        if (h && this.#boundTo(h, msg.port)) ready();
        else this.#unbound();
      });
      return;
    }
    this.#unbound();
  }

  /** reuseport: a listening socket of this worker's own, in the port's SO_REUSEPORT group. */
  #listenReusePort(host: string, port: number, backlog: number, ready: (port: number) => void): void {
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.#accept(socket));
    const failed = (err: NodeJS.ErrnoException) => {
      // The server cannot run as asked: the master reports it and stops.
      this.#send({ type: 'listenFailed', code: err.code ?? 'ERR_LISTEN', message: err.message });
      setTimeout(() => process.exit(1), 50).unref();
    };
    server.once('error', failed);
    server.listen({ host, port, backlog, reusePort: true } as net.ListenOptions, () => {
      server.off('error', failed);
      server.on('error', (err) => report(this.#handlers, err));
      // Take the accepted connections as raw handles where this Node allows it.
      if (this.#handles) acceptHandles(server, (client) => this.#accept(client));
      this.#listener = { kind: 'server', server };
      ready((server.address() as net.AddressInfo).port);
    });
  }

  #boundTo(h: TcpHandle, port: number): boolean {
    const out: { port?: number } = {};
    h.getsockname(out);
    return out.port === port;
  }

  /** Not the master's socket (it was never bound): refuse to serve a random port. */
  #unbound(): void {
    report(this.#handlers, Object.assign(new Error(`worker ${this.workerId} got an unbound socket`), { code: 'EADDRINUSE' }));
    process.exit(1);
  }

  /** libuv accepted a connection on our listening handle. */
  #onConnection(err: number, client: TcpHandle | undefined): void {
    if (err !== 0 || !client) {
      report(this.#handlers, Object.assign(new Error(`accept failed (${err})`), { code: 'EACCEPT' }));
      return;
    }
    this.#accept(client);
  }

  /**
   * A connection this worker accepted itself (a handle, or a socket of its
   * net.Server). hybrid: kept unless this worker is above its share (by the
   * loads the master last sent); then the master places it on the
   * least-loaded worker, which may be this one again.
   */
  #accept(from: TcpHandle | net.Socket): void {
    this.#acceptCount++;
    if (
      this.#mode === 'hybrid' &&
      !this.#stopping &&
      process.connected &&
      overShare(this.#table.size + 1, this.#loads, this.workerId, this.#workers, this.#maxConn)
    ) {
      this.#handOff(from);
      return;
    }
    this.#serve(from);
  }

  /** A connection the master sent (round_robin, or hybrid's placing). Returns whether it is served. */
  #adopt(from: TcpHandle | net.Socket): boolean {
    this.#acceptCount++;
    this.#adopted++;
    return this.#serve(from, true);
  }

  /**
   * Serves a connection, or refuses it at max_conn. Returns whether it is
   * served. A connection the master `placed` and this worker refuses is not
   * counted or reported here: the master still holds it and places it on
   * another worker, or closes it and counts that (master_refused).
   */
  #serve(from: TcpHandle | net.Socket, placed = false): boolean {
    const table = this.#table;
    if (table.size >= this.#maxConn) {
      if (from instanceof net.Socket) from.destroy();
      else from.close();
      if (placed) return false;
      table.refused('ERR_MAX_CONN');
      report(
        this.#handlers,
        new MaxConnError(`max_conn reached (${this.#maxConn} on worker ${this.workerId}); connection refused`),
      );
      return false;
    }
    const link = this.#link(from);
    // The peer address is read on first use, unless a callback may want it after the socket is gone
    // (close, error) or TLS takes the socket over.
    const h = this.#handlers;
    const eager = h.close !== undefined || h.error !== undefined || this.#tls !== null;
    const remote = new PeerRemote(link, `${this.workerId}-${process.pid}-${++this.#seq}`, eager);
    table.open(link, remote);
    return true;
  }

  /** The Link for an accepted connection: its handle directly, or a (TLS) socket. */
  #link(from: TcpHandle | net.Socket): Link {
    if (this.#handles && !(from instanceof net.Socket)) return new HandleLink(from);
    let socket =
      from instanceof net.Socket
        ? from
        : new net.Socket({ handle: from, readable: true, writable: true } as net.SocketConstructorOpts);
    socket.allowHalfOpen = true;
    // TLS runs over the accepted socket; framing sees the decrypted bytes.
    if (this.#tls)
      socket = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: this.#tls,
        allowHalfOpen: true,
      } as tls.TLSSocketOptions);
    return new SocketLink(socket);
  }

  /** Passes an unread connection to the master, to serve elsewhere. */
  #handOff(from: TcpHandle | net.Socket): void {
    const handle = from instanceof net.Socket ? detach(from) : from;
    if (!handle) return;
    // A raw handle is not closed by send(): close our copy once it is across.
    process.send!(
      { type: 'handoff', connections: this.#table.size, adopted: this.#adopted } satisfies ToMaster,
      handle as never,
      (err: Error | null) => {
        if (!err) handle.close();
      },
    );
  }

  /** round_robin and hybrid: tells the master how many connections are open, at most every 10 ms. */
  #loadChanged(): void {
    if (this.#mode === 'shared' || this.#loadTimer) return;
    this.#loadTimer = setTimeout(() => {
      this.#loadTimer = null;
      this.#send({ type: 'load', connections: this.#table.size, adopted: this.#adopted });
    }, 10);
  }

  /**
   * Stops gracefully: stop accepting, answer and flush what was read, close
   * each connection once it may, then exit. `reason` is null when the master
   * asked; otherwise the master is told so it starts a replacement.
   */
  stop(reason: string | null, waitMs = this.#waitMs, handover = false): void {
    if (this.#stopping) return;
    this.#stopping = true;
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
      const t = Date.now();
      if ((this.#acceptCount !== seen || t - since < LISTEN_GRACE_MS) && t - since < LISTEN_GRACE_MAX_MS) {
        seen = this.#acceptCount;
        setImmediate(closeWhenQueueEmpty);
        return;
      }
      this.#closeListener();
      if (this.#table.size === 0) this.#finish();
    };
    setTimeout(() => setImmediate(closeWhenQueueEmpty), LISTEN_GRACE_MS);
    // reload_handover: connections between messages move to the replacement instead of closing.
    this.#table.drain(deadline, hard, handover && this.#handles ? (conn) => void this.#handOver(conn) : null);
  }

  /**
   * reload_handover: moves a connection to the worker that replaces this one,
   * through the master: its handle, its framing state, and what the user's
   * handover callback returns (for adopt). The connection's close callback
   * does not run here, nor accept there.
   */
  async #handOver(conn: Connection): Promise<void> {
    const table = this.#table;
    const remote = conn.remote;
    let value: string;
    try {
      const v = await this.#handlers.handover?.(remote);
      value = JSON.stringify(v ?? null);
    } catch (err) {
      report(this.#handlers, new CallbackError('handover', err));
      table.stays(conn);
      return;
    }
    const handle = conn.link.movable();
    if (handle === null || !process.connected) {
      table.stays(conn);
      return;
    }
    const moving: Moving = {
      id: remote.id,
      ip: remote.ip,
      port: remote.port,
      via: remote.via,
      upgraded: conn.upgraded,
      value,
      state: table.stateOf(conn),
    };
    const reply = await this.#requests.ask(
      (msg) => {
        process.send!(msg, handle as never, { keepOpen: true } as never);
        return true;
      },
      { type: 'handover', ...moving },
      { accepted: false },
    );
    if ((reply as { accepted?: unknown }).accepted === true) table.moved(conn);
    else table.stays(conn);
  }

  /** reload_handover: a connection from the worker this one replaces. Returns whether it is served here. */
  #adoptMoved(msg: Moving, handle: unknown): boolean {
    const table = this.#table;
    if (!isTcpHandle(handle)) return false;
    const ptr = msg.state === '' ? 0 : table.restore(msg.state);
    if (!this.#handles || table.size >= this.#maxConn || (msg.state !== '' && ptr === 0)) {
      handle.close();
      return false;
    }
    const remote = PeerRemote.known(msg.id, msg.ip, msg.port, msg.via);
    table.adopt(new HandleLink(handle), remote, ptr, msg.upgraded, JSON.parse(msg.value) as unknown);
    return true;
  }

  #closeListener(): void {
    const l = this.#listener;
    if (l?.kind === 'handle') l.handle.close();
    else if (l?.kind === 'server') l.server.close();
    this.#listener = null;
    this.#listenerClosed = true;
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#table.stopTimers();
    if (this.#loadTimer) clearTimeout(this.#loadTimer);
    // An async workerStop is waited for, within what is left of max_wait_time.
    const stopped = invoke(this.#handlers, 'workerStop', this.#handlers.workerStop, {
      workerId: this.workerId,
      pid: process.pid,
    });
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
    const s = this.#table.counters;
    return {
      pid: process.pid,
      worker: this.workerId,
      connections: this.#table.size,
      accepted: s.accepted,
      closed: s.closed,
      aborted: s.aborted,
      refused: s.refused,
      messages: s.messages,
      bytes_in: s.bytes_in,
      bytes_out: s.bytes_out,
      errors: { ...s.errors },
      relayed: s.relayed,
      relay_gone: s.relay_gone,
      dropped: s.dropped,
      handed_over: s.handed_over,
      adopted: s.adopted,
      uptime: (Date.now() - this.#startedAt) / 1000,
      rss: this.#readRss(),
    };
  }
}
