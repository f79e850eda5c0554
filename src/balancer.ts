// Socket dispatch in the master. In round_robin the master accepts every
// connection; in hybrid only the sockets a worker above its share hands on
// come here. Each goes to the worker with the fewest open connections, taking
// workers in turn on a tie. A worker that is stopping is skipped; one that
// gets a socket it will not serve hands it back.
import net from 'node:net';
import { MaxConnError } from './errors.js';

/**
 * A libuv TCP handle passed between processes without a net.Socket around
 * it. A net.Socket starts reading as soon as it is made, so a socket relayed
 * through the master as a net.Socket could lose its first bytes there; node's
 * cluster passes raw handles for the same reason.
 */
export interface RawHandle {
  close(cb?: () => void): void;
  readStop?(): number;
  reading?: boolean;
}

export type Handoff = net.Socket | RawHandle;

function gone(h: Handoff): boolean {
  return h instanceof net.Socket ? h.destroyed : false;
}

function dispose(h: Handoff): void {
  if (h instanceof net.Socket) h.destroy();
  else h.close();
}

/** Takes the handle out of a socket that has not been read from, for a handoff. */
export function detach(socket: net.Socket): RawHandle | null {
  const s = socket as unknown as { _handle: RawHandle | null };
  const handle = s._handle;
  if (!handle) return null;
  if (handle.reading) {
    handle.reading = false;
    handle.readStop?.();
  }
  s._handle = null;
  socket.destroy();
  return handle;
}

/** Wraps a handle handed over by the master in a socket that reads at once. */
export function adopt(handle: Handoff): net.Socket {
  if (handle instanceof net.Socket) {
    handle.allowHalfOpen = true;
    return handle;
  }
  return new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true } as net.SocketConstructorOpts);
}

export interface Seat {
  /** Can take connections now. */
  open(): boolean;
  /** Hands a socket over; calls back with an error if it could not be sent. */
  give(socket: Handoff, done: (err: Error | null) => void): void;
  /** Connections assigned and not known closed. */
  load: number;
}

export class Balancer {
  #server: net.Server | null = null;
  #next = 0;
  #closed = false;
  #seats: () => Seat[];
  #maxConn: number;
  #onRefuse: (err: MaxConnError) => void;

  constructor(seats: () => Seat[], maxConn: number, onRefuse: (err: MaxConnError) => void) {
    this.#seats = seats;
    this.#maxConn = maxConn;
    this.#onRefuse = onRefuse;
  }

  /** round_robin: the master itself listens and accepts. */
  listen(ip: string, port: number, backlog: number): Promise<number> {
    // pauseOnConnect: the master never reads, so every byte stays for the worker.
    const server = net.createServer({ pauseOnConnect: true }, (socket) => this.dispatch(socket));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: ip, port, backlog }, () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Sends the socket to the least-loaded open worker; refuses it past max_conn. */
  dispatch(socket: Handoff, tried: Set<Seat> = new Set(), attempt = 0): void {
    const seats = this.#seats();
    let total = 0;
    for (const s of seats) total += s.load;
    if (total >= this.#maxConn) {
      dispose(socket);
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
      // Nobody can take it now (all starting, stopping or refused it): retry for up to a second.
      if (attempt >= 100 || this.#closed) {
        dispose(socket);
        return;
      }
      setTimeout(() => (gone(socket) ? undefined : this.dispatch(socket, new Set(), attempt + 1)), 10);
      return;
    }
    this.#next = (seats.indexOf(best) + 1) % n;
    best.load++;
    const seat = best;
    seat.give(socket, (err) => {
      if (!err) return;
      seat.load--;
      tried.add(seat);
      if (!gone(socket)) this.dispatch(socket, tried, attempt);
    });
  }

  /** Disposes of a handle nobody will serve. */
  drop(socket: Handoff): void {
    dispose(socket);
  }

  close(): void {
    this.#closed = true;
    this.#server?.close();
  }
}
