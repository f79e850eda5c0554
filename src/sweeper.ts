// The connection table's clocks, in one place: the heartbeat (idle peers and
// unfinished messages), the handshake and package timeouts, the linger of
// connections we ended, and a drain's deadlines. The table owns the connections and decides what ending one
// means; this module only says when.
import { CLOSED, type Connection } from './connection.js';

/** How often the drain and linger clock ticks. */
const TICK_MS = 25;
/** How long a connection we ended may wait for the peer's FIN before it is destroyed. */
const LINGER_MS = 2000;

/** What the sweeper asks of the table. */
export interface Swept {
  /** Every connection not yet closed. */
  connections(): Iterable<Connection>;
  /** Draining: ends the connections that may end now between messages (`now`: the tick's time). */
  drainTick(now: number): void;
  /** The drain's deadline: stop reading, end each connection once its work in flight is done. */
  deadline(): void;
  /** A connection's TLS handshake or PROXY header, or its unfinished message, took too long. */
  timedOut(conn: Connection, kind: 'handshake' | 'package', seconds: number): void;
}

export class Sweeper {
  readonly #table: Swept;
  #tick: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #idleMs = 0;
  #timeouts: NodeJS.Timeout | null = null;
  #handshakeMs = 0;
  #packageMs = 0;
  /** Connections we ended that still wait for their close. */
  readonly #ending = new Set<Connection>();
  /** A drain: when it stops reading (ms), when it destroys what is left; 0 when none runs. */
  #deadline = 0;
  #hard = 0;
  #deadlinePassed = false;

  constructor(table: Swept) {
    this.#table = table;
  }

  /** Closes, from now on, connections that send nothing, or leave a message unfinished, for `ms`. */
  heartbeat(ms: number): void {
    this.#idleMs = ms;
    const every = Math.min(1000, Math.max(50, ms / 4));
    this.#heartbeat = setInterval(() => this.#beat(), every).unref();
  }

  /**
   * A connection is idle when nothing arrived for the idle time, no callback
   * promise of it is pending, and no reply is leaving (replies still queued
   * but flowing out count as activity, like nginx's send_timeout: a slow
   * reader of a big reply is not cut while it keeps reading).
   */
  #beat(): void {
    const now = Date.now();
    const limit = now - this.#idleMs;
    for (const conn of this.#table.connections()) {
      if (conn.state === CLOSED || conn.pending > 0) continue;
      if (conn.link.queued() > 0) {
        // Progress: a write finished, or the bytes libuv holds shrank (one big write being read).
        const w = conn.link.written();
        const q = conn.link.outQueue();
        if (w !== conn.outMark || q < conn.outQueued) conn.lastOut = now;
        conn.outMark = w;
        conn.outQueued = q;
      }
      const quiet = Math.max(conn.lastIn, conn.lastOut) <= limit;
      if (quiet || (conn.partialSince !== 0 && conn.partialSince <= limit)) conn.link.destroy();
    }
  }

  /**
   * From now on: a TLS handshake or PROXY header not complete within
   * `handshakeMs` of the accept, or a message left unfinished for
   * `packageMs`, fails its connection (0: off).
   */
  timeouts(handshakeMs: number, packageMs: number): void {
    this.#handshakeMs = handshakeMs;
    this.#packageMs = packageMs;
    if (this.#timeouts) clearInterval(this.#timeouts);
    this.#timeouts = null;
    const shortest = Math.min(handshakeMs || Infinity, packageMs || Infinity);
    if (shortest === Infinity) return;
    const every = Math.min(1000, Math.max(25, shortest / 4));
    this.#timeouts = setInterval(() => this.#checkTimeouts(), every).unref();
  }

  #checkTimeouts(): void {
    const now = Date.now();
    const hs = this.#handshakeMs;
    const pk = this.#packageMs;
    for (const conn of this.#table.connections()) {
      if (conn.state === CLOSED) continue;
      if (hs > 0 && (conn.proxyPending || conn.link.handshaking()) && now - conn.openedAt >= hs) {
        this.#table.timedOut(conn, 'handshake', hs / 1000);
      } else if (pk > 0 && conn.partialSince !== 0 && now - conn.partialSince >= pk) {
        this.#table.timedOut(conn, 'package', pk / 1000);
      }
    }
  }

  /** A connection we ended: destroy it if the peer does not close within the linger. */
  linger(conn: Connection): void {
    this.#ending.add(conn);
    this.#start();
  }

  /** A connection closed. */
  closed(conn: Connection): void {
    this.#ending.delete(conn);
  }

  /** A drain: `deadline` stops reading, `hard` destroys what is left. */
  drain(deadline: number, hard: number): void {
    this.#deadline = deadline;
    this.#hard = hard;
    this.#start();
  }

  /** Clears every timer, so the process can exit. */
  stop(): void {
    if (this.#tick) clearInterval(this.#tick);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#timeouts) clearInterval(this.#timeouts);
    this.#tick = this.#heartbeat = this.#timeouts = null;
  }

  #start(): void {
    this.#tick ??= setInterval(() => this.#step(), TICK_MS);
  }

  #step(): void {
    const now = Date.now();
    if (this.#hard !== 0) {
      if (now >= this.#hard) {
        for (const conn of this.#table.connections()) conn.link.destroy();
      } else if (now >= this.#deadline) {
        if (!this.#deadlinePassed) {
          this.#deadlinePassed = true;
          this.#table.deadline();
        }
      } else {
        this.#table.drainTick(now);
      }
    }
    for (const conn of this.#ending) {
      if (conn.state === CLOSED) this.#ending.delete(conn);
      else if (now - conn.endedAt >= LINGER_MS) conn.link.destroy();
    }
    if (this.#hard === 0 && this.#ending.size === 0 && this.#tick) {
      clearInterval(this.#tick);
      this.#tick = null;
    }
  }
}
