// Who accepts connections, one module per policy behind one interface, as
// node's cluster keeps shared_handle.js and round_robin_handle.js: the master
// asks its Dispatch for the handle to give a starting worker, hands it the
// connections a worker gives back, tells it when loads change, and closes it
// on stop; it never asks which policy it has.
//   shared       every worker accepts on the master's bound socket; the kernel decides.
//   round_robin  the master accepts and places each connection (balancer.ts).
//   hybrid       workers accept; one above its share hands the connection back to be placed.
//   reuseport    every worker listens on a socket of its own (SO_REUSEPORT); the kernel spreads.
import type { MaxConnError } from '../errors.js';
import type { BoundHandle } from '../internals.js';
import type { DispatchMode, ToWorker } from '../ipc.js';
import type { Handoff, Seat } from './balancer.js';
import { HybridDispatch } from './hybrid.js';
import { ReusePortDispatch } from './reuseport.js';
import { RoundRobinDispatch } from './round_robin.js';
import { SharedDispatch } from './shared.js';

export type { Handoff, Seat } from './balancer.js';
export { handoff } from './balancer.js';

export interface Dispatch {
  readonly mode: DispatchMode;
  /** The port bound (the real one for port 0; reuseport: 0 until the first worker has bound). */
  port: number;
  /** What a starting worker gets with its setup: the bound socket to accept on, or none when the master places connections. */
  readonly handle: BoundHandle | undefined;
  /** A worker handed a connection back (hybrid: above its share, or stopping). */
  handoff(conn: Handoff, from: Seat, fromReady: boolean): void;
  /** A worker's load changed. */
  loadChanged(): void;
  /** Stops taking connections (the master is stopping). */
  close(): void;
}

/** The workers, as a dispatch policy sees them. */
export interface Pool {
  /** Every worker that may take connections (starting ones say so through Seat.open). */
  seats(): Seat[];
  /** Open connections per worker slot, for hybrid's shares. */
  loads(): number[];
  /** A message to every ready worker. */
  tell(msg: ToWorker): void;
}

export interface Where {
  ip: string;
  port: number;
  backlog: number;
  maxConn: number;
}

/**
 * Binds (or listens) for `mode`. Throws with a system code (EADDRINUSE, ...)
 * when it cannot. Where the master places connections, `onRefuse` hears of one
 * it closed at max_conn, `onDrop` of one it closed because no worker could take it.
 */
export async function openDispatch(
  mode: DispatchMode,
  where: Where,
  pool: Pool,
  onRefuse: (err: MaxConnError) => void,
  onDrop: () => void = () => {},
): Promise<Dispatch> {
  switch (mode) {
    case 'round_robin':
      return RoundRobinDispatch.open(where, pool, onRefuse, onDrop);
    case 'hybrid':
      return new HybridDispatch(where, pool, onRefuse, onDrop);
    case 'reuseport':
      return new ReusePortDispatch(where);
    default:
      return new SharedDispatch(where);
  }
}
