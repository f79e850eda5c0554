// One accepted socket in a worker: its framing state in the core, its reply
// batch, and where it is in its life. The life is one state, moving forward
// only; the flags beside it are independent of it and of each other.
import type { Remote } from './events.js';
import type { Link } from './link.js';

/** Reading and delivering messages. */
export const OPEN = 0;
/** No more deliveries (close() was called, bad input, a callback failed): ends once nothing is in flight. */
export const CLOSING = 1;
/** Our FIN is sent; late bytes are read and dropped until the peer closes or the linger ends. */
export const ENDED = 2;
/** The socket is closed and the close callback has run. */
export const CLOSED = 3;
export type State = typeof OPEN | typeof CLOSING | typeof ENDED | typeof CLOSED;

/** Messages to deliver, from the core's answer to a chunk, from a backlog, or a raw chunk: one delivery loop reads them all. */
export interface Source {
  readonly count: number;
  message(i: number): Buffer;
  flags(i: number): number;
}

/** Messages framed but not delivered while the reply queue was full. */
export class Backlog implements Source {
  readonly messages: Buffer[] = [];
  readonly flagBits: number[] = [];
  get count(): number {
    return this.messages.length;
  }
  message(i: number): Buffer {
    return this.messages[i];
  }
  flags(i: number): number {
    return this.flagBits[i];
  }
  /** Keeps source's messages from `from` on, in order. */
  keep(source: Source, from: number): void {
    for (let i = from; i < source.count; i++) {
      this.messages.push(source.message(i));
      this.flagBits.push(source.flags(i));
    }
  }
}

export class Connection {
  readonly link: Link;
  readonly remote: Remote;
  state: State = OPEN;
  /** The core's framing state (0 in raw mode, and once released). */
  ptr: number;
  /** Bytes of replies batched while this connection's messages are delivered (the connection table holds them). */
  batchBytes = 0;
  /** Inside the delivery of this connection's messages (a callback's synchronous part). */
  delivering = false;
  /** Callback promises of this connection not yet settled: work in flight. */
  pending = 0;
  /** Messages framed but not yet delivered, kept while the reply queue is full. */
  backlog: Backlog | null = null;
  /** The reply queue reached socket_buffer_size: reading and delivery are paused. */
  full = false;
  /** A bufferDrain is awaited. */
  waitingDrain = false;
  /** The peer half-closed: nothing more will arrive. */
  peerEnded = false;
  /** Bytes have arrived. */
  used = false;
  /** proxy_protocol: the header has not arrived yet; accept has not run. */
  proxyPending = false;
  /** The accept callback ran, so close will too. */
  announced = false;
  /** When we ended our side (ms), 0 before. */
  endedAt = 0;
  /** When the connection was accepted (ms), for handshake_timeout. */
  readonly openedAt: number;
  /** When bytes last arrived (ms), for the heartbeat. */
  lastIn: number;
  /** When the heartbeat last saw replies leave the queue (ms): output still flowing is not idle. */
  lastOut = 0;
  /** The link's written() and outQueue() at that moment. */
  outMark = 0;
  outQueued = 0;
  /** When bytes last arrived or a reply was sent (ms): a draining http connection quiet this long is closed. */
  lastActive: number;
  /** When the message still unfinished began arriving (ms), 0 when none is. */
  partialSince = 0;
  /** Bytes the peer has sent: where the next chunk starts in its input. */
  bytesIn = 0;
  /** http: a request upgraded the connection; what follows is raw bytes, served like a raw protocol. */
  upgraded = false;
  /** Written just before our FIN (an HTTP error reply for a refused request). */
  farewell: string | null = null;
  /** reload_handover: on its way to the new worker (reading paused), or not to be moved (it was refused). */
  moving = false;
  stays = false;
  /** Taken over from the worker this one replaced: its id names that worker's pid, not this one's. */
  adopted = false;

  constructor(link: Link, remote: Remote, ptr: number, now: number) {
    this.link = link;
    this.remote = remote;
    this.ptr = ptr;
    this.openedAt = now;
    this.lastIn = now;
    this.lastActive = now;
  }

  /** Reply bytes not yet handed to the kernel. */
  queued(): number {
    return this.link.queued() + this.batchBytes;
  }

  /** Nothing read is waiting for an answer: no delivery running, no callback promise pending, no backlog. */
  idle(): boolean {
    return !this.delivering && this.pending === 0 && this.backlog === null;
  }
}
