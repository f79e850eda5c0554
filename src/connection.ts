// One accepted socket in a worker: its framing state in the core, its reply
// batch, and the drain rules shared by a graceful stop, a reload and
// max_request.
import type { Socket } from 'node:net';
import type { Remote } from './events.js';

/** A connection counts as quiet once no bytes have arrived for this long. */
export const QUIET_MS = 100;
/** A connection that has sent nothing yet is about to: give it longer. */
export const FRESH_QUIET_MS = 1000;

export class Connection {
  readonly socket: Socket;
  readonly remote: Remote;
  /** The core's framing state (0 in raw mode). */
  ptr: number;
  /** Bytes of replies batched while this connection's messages are delivered (the connection table holds them). */
  batchBytes = 0;
  /** Inside the delivery of this connection's messages. */
  delivering = false;
  /** Messages framed but not yet delivered, kept while the reply queue is full. */
  backlog: Buffer[] | null = null;
  backlogFlags: number[] | null = null;
  /** The reply queue reached socket_buffer_size: reading and delivery are paused. */
  full = false;
  /** close() was called, or bad input was seen: no more deliveries, end after the replies flush. */
  closing = false;
  /** Bytes have arrived. */
  used = false;
  /** The close callback ran. */
  closed = false;
  /** The socket errored (reset by the peer, say). */
  aborted = false;
  /** The peer half-closed. */
  peerEnded = false;
  /** When we ended our side (ms), 0 before. */
  endedAt = 0;
  /** A bufferDrain is awaited. */
  waitingDrain = false;
  /** proxy_protocol: the header has not arrived yet; accept has not run. */
  proxyPending = false;
  /** The accept callback ran, so close will too. */
  announced = false;
  /** When bytes last arrived or a reply was queued (ms). */
  lastActive: number;
  /** When bytes last arrived (ms), for the heartbeat. */
  lastIn: number;
  /** When the message still unfinished began arriving (ms), 0 when none is. */
  partialSince = 0;

  constructor(socket: Socket, remote: Remote, ptr: number, now: number) {
    this.socket = socket;
    this.remote = remote;
    this.ptr = ptr;
    this.lastActive = now;
    this.lastIn = now;
  }

  /** Reply bytes not yet handed to the kernel. */
  queued(): number {
    return this.socket.writableLength + this.batchBytes;
  }

  /** Everything read was delivered and every reply flushed, and the peer has been quiet. */
  finished(now: number): boolean {
    return (
      !this.delivering &&
      this.backlog === null &&
      this.batchBytes === 0 &&
      this.socket.writableLength === 0 &&
      now - this.lastActive >= (this.used ? QUIET_MS : FRESH_QUIET_MS)
    );
  }
}
