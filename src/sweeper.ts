// The connection table's clocks, in one place: the heartbeat (idle peers and
// unfinished messages), the linger of connections we ended, and a drain's
// deadlines. The table owns the connections and decides what ending one
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
}

export class Sweeper {
  readonly #table: Swept;
  #tick: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #idleMs = 0;
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

  #beat(): void {
    const limit = Date.now() - this.#idleMs;
    for (const conn of this.#table.connections()) {
      if (conn.state === CLOSED) continue;
      if (conn.lastIn <= limit || (conn.partialSince !== 0 && conn.partialSince <= limit)) conn.link.destroy();
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
    this.#tick = this.#heartbeat = null;
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
