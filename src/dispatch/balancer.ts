// Sending a connection to a worker, for the policies where the master places
// connections (round_robin, and hybrid's handoffs): to the worker with the
// fewest open connections, taking workers in turn on a tie. Every handoff is
// acknowledged: the master keeps its copy of the socket until the worker says
// it serves it, and places it elsewhere when the worker refuses it or is gone,
// so a socket never falls between two processes. A worker that stopped
// answering the master's heartbeat (stopped, or its event loop blocked) gets
// nothing while another worker answers.
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
  /** Answers the master's heartbeat (absent: assumed to). One that does not gets nothing while another does. */
  responsive?(): boolean;
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
  readonly #onDrop: () => void;

  /**
   * `onRefuse`: a connection closed because the workers are at max_conn (the
   * master's total, or every worker refused it). `onDrop`: one closed because
   * no worker could take it for a second (all starting or stopping).
   */
  constructor(seats: () => Seat[], maxConn: number, onRefuse: (err: MaxConnError) => void, onDrop: () => void = () => {}) {
    this.#seats = seats;
    this.#maxConn = maxConn;
    this.#onRefuse = onRefuse;
    this.#onDrop = onDrop;
  }

  /**
   * Sends the connection to the least-loaded open worker not in `tried`, one
   * that answers the heartbeat if any does; refuses it past max_conn.
   * `refused`: a worker has refused it already.
   */
  place(conn: Handoff, tried: Set<Seat> = new Set(), attempt = 0, refused = false): void {
    const seats = this.#seats();
    let total = 0;
    for (const s of seats) total += s.load;
    if (total >= this.#maxConn) {
      conn.close();
      this.#onRefuse(new MaxConnError(`max_conn reached (${this.#maxConn}); connection refused`));
      return;
    }
    let best: Seat | null = null;
    let silent: Seat | null = null;
    let answering = false;
    const n = seats.length;
    for (let k = 0; k < n; k++) {
      const s = seats[(this.#next + k) % n];
      if (!s.open()) continue;
      const responsive = s.responsive?.() !== false;
      if (responsive) answering = true;
      if (tried.has(s)) continue;
      if (!responsive) {
        if (!silent || s.load < silent.load) silent = s;
      } else if (!best || s.load < best.load) best = s;
    }
    // One that does not answer only when none does (it serves the connection once it wakes).
    if (!best && !answering) best = silent;
    if (!best) {
      // Nobody can take it now (all starting, stopping, or they refused it): retry for up to a second.
      if (attempt >= RETRIES || this.#closed) {
        conn.close();
        if (refused && !this.#closed)
          this.#onRefuse(new MaxConnError('no worker took the connection (at max_conn, or gone); connection refused'));
        else this.#onDrop();
        return;
      }
      setTimeout(() => this.place(conn, new Set(), attempt + 1, refused), RETRY_MS);
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
      this.place(conn, tried, attempt, true);
    });
  }

  close(): void {
    this.#closed = true;
  }
}
