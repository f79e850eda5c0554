// dispatch_mode `hybrid` (the default): workers accept on the shared socket,
// as in `shared`, so the common path costs nothing more; a worker above its
// share hands the connection, unread, back to the master, which places it on
// the least-loaded worker (possibly the same one). The master tells every
// worker the others' loads, at most every LOADS_MS.
import type { MaxConnError } from '../errors.js';
import type { BoundHandle } from '../internals.js';
import type { DispatchMode } from '../ipc.js';
import { Balancer } from './balancer.js';
import type { Dispatch, Handoff, Pool, Seat, Where } from './index.js';
import { bindShared } from './shared.js';

const LOADS_MS = 10;

/** The worker's side: is a worker with `own` connections (this one included) above its share? */
export function overShare(own: number, loads: number[], workerId: number, workers: number, maxConn: number): boolean {
  let others = 0;
  for (let i = 0; i < loads.length; i++) if (i !== workerId) others += loads[i];
  // 5% and 5 connections over a fair split of everything open.
  const limit = Math.ceil(((own + others) / workers) * 1.05) + 5;
  return own > limit || own > maxConn;
}

export class HybridDispatch implements Dispatch {
  readonly mode: DispatchMode = 'hybrid';
  readonly port: number;
  handle: BoundHandle | undefined;
  readonly #pool: Pool;
  readonly #balancer: Balancer;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(where: Where, pool: Pool, onRefuse: (err: MaxConnError) => void, onDrop: () => void = () => {}) {
    const bound = bindShared(where.ip, where.port);
    this.handle = bound.handle;
    this.port = bound.port;
    this.#pool = pool;
    this.#balancer = new Balancer(() => pool.seats(), where.maxConn, onRefuse, onDrop);
  }

  handoff(conn: Handoff, from: Seat, fromReady: boolean): void {
    if (this.#closed) {
      // Stopping: the sender serves it after all (its drain answers it).
      from.give(conn, () => conn.close());
      return;
    }
    // The sender may get it back: its view of the others was older than ours.
    this.#balancer.place(conn, fromReady ? new Set() : new Set([from]));
  }

  loadChanged(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#pool.tell({ type: 'loads', loads: this.#pool.loads() });
    }, LOADS_MS);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#balancer.close();
    this.handle?.close();
    this.handle = undefined;
  }
}
