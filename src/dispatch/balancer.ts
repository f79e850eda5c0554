// Sending a connection to a worker, for the policies where the master places
// connections (round_robin, and hybrid's handoffs): to the worker with the
// fewest open connections, taking workers in turn on a tie. Every handoff is
// acknowledged: the master keeps its copy of the socket until the worker says
// it serves it, and places it elsewhere when the worker refuses it or is gone,
// so a socket never falls between two processes.
import net from 'node:net';
import { MaxConnError } from '../errors.js';
import type { TcpHandle } from '../internals.js';

/** A connection in transit: what goes over IPC (a raw libuv handle, or without the internals a paused net.Socket), and how to drop our copy. */
export interface Handoff {
  readonly handle: TcpHandle | net.Socket;
  close(): void;
}

/** A Handoff for a raw handle or a socket that nothing has read from. */
export function handoff(handle: TcpHandle | net.Socket): Handoff {
  return {
    handle,
    close: () => (handle instanceof net.Socket ? handle.destroy() : handle.close()),
  };
}

/** A worker as a place to send connections. */
export interface Seat {
  /** Can take connections now. */
  open(): boolean;
  /** Sends a connection; `done(true)` once the worker serves it, `done(false)` when it did not take it. */
  give(conn: Handoff, done: (accepted: boolean) => void): void;
  /** Connections assigned and not known closed. */
  load: number;
}

/** How long the balancer retries when no worker can take a connection (all starting or stopping). */
const RETRY_MS = 10;
const RETRIES = 100;

export class Balancer {
  #next = 0;
  #closed = false;
  readonly #seats: () => Seat[];
  readonly #maxConn: number;
  readonly #onRefuse: (err: MaxConnError) => void;

  constructor(seats: () => Seat[], maxConn: number, onRefuse: (err: MaxConnError) => void) {
    this.#seats = seats;
    this.#maxConn = maxConn;
    this.#onRefuse = onRefuse;
  }

  /** Sends the connection to the least-loaded open worker not in `tried`; refuses it past max_conn. */
  place(conn: Handoff, tried: Set<Seat> = new Set(), attempt = 0): void {
    const seats = this.#seats();
    let total = 0;
    for (const s of seats) total += s.load;
    if (total >= this.#maxConn) {
      conn.close();
      this.#onRefuse(new MaxConnError(`max_conn reached (${this.#maxConn}); connection refused`));
      return;
    }
    let best: Seat | null = null;
    const n = seats.length;
    for (let k = 0; k < n; k++) {
      const s = seats[(this.#next + k) % n];
      if (!s.open() || tried.has(s)) continue;
      if (!best || s.load < best.load) best = s;
    }
    if (!best) {
      // Nobody can take it now (all starting, stopping, or they refused it): retry for up to a second.
      if (attempt >= RETRIES || this.#closed) {
        conn.close();
        return;
      }
      setTimeout(() => this.place(conn, new Set(), attempt + 1), RETRY_MS);
      return;
    }
    this.#next = (seats.indexOf(best) + 1) % n;
    best.load++;
    const seat = best;
    seat.give(conn, (accepted) => {
      if (accepted) {
        // The worker has its own copy now.
        conn.close();
        return;
      }
      seat.load--;
      tried.add(seat);
      this.place(conn, tried, attempt);
    });
  }

  close(): void {
    this.#closed = true;
  }
}
