// Master–worker messages. Every message carries a `type`; each side keeps one
// dispatch table keyed by it (see master.ts and worker.ts). A message that
// wants an answer carries a `seq`, numbered by `Requests`; the answer is a
// `reply` with the same seq (node's cluster does the same with sendHelper).

import type { FilterIds, Payload } from './messaging.js';

/** Env var that marks a forked worker and carries its index. */
export const WORKER_ENV = 'TCP_PREFORK_WORKER';

export type DispatchMode = 'shared' | 'round_robin' | 'hybrid' | 'reuseport';

export type ToWorker =
  /**
   * Settings (serialized store, base64) and how connections arrive; a
   * listening handle may ride along. reuseport: the worker binds `port` itself
   * (0: any port; it says which in `ready`).
   */
  | { type: 'setup'; settings: string; port: number; mode: DispatchMode }
  /** hybrid: every worker's open connections, by worker slot, as the master last heard. */
  | { type: 'loads'; loads: number[] }
  /** A connection for this worker (the handle rides along); answered with { accepted }. */
  | { type: 'conn'; seq: number }
  /** Stop gracefully: stop accepting, drain, exit; within `ms` of when it was sent (the master's SIGKILL follows). */
  | { type: 'stop'; ms: number; sentAt: number; handover: boolean }
  /** reload_handover: a connection from the worker this one replaces (the handle rides along); answered with { accepted }. */
  | ({ type: 'adopt'; seq: number } & Moving)
  /** Report stats; answered with WorkerStats. */
  | { type: 'stats'; seq: number }
  /** The master's heartbeat: answered with true at once (a stopped or blocked worker does not answer). */
  | { type: 'ping'; seq: number }
  /** A message for one of this worker's connections, from another process. */
  | { type: 'relay'; to: string; data: Payload }
  /** A message for every connection of this worker that passes the filter. */
  | { type: 'broadcast'; data: Payload; filter: FilterIds }
  /** sendMessage from another worker or the master (-1): JSON text. */
  | { type: 'message'; from: number; data: string }
  | Reply;

export type ToMaster =
  /** The worker's script called run(): send it the setup. */
  | { type: 'hello' }
  /** The worker accepts connections (reuseport: on this port). */
  | { type: 'ready'; port: number }
  /** reuseport: the worker could not bind (EADDRINUSE, ...); it exits. */
  | { type: 'listenFailed'; code: string; message: string }
  /** The worker began a stop of its own (a signal, max_request): start a replacement now. */
  | { type: 'retiring'; reason: string }
  /** The worker's open connection count changed (round_robin and hybrid balancing). */
  | { type: 'load'; connections: number; adopted: number }
  /** hybrid: a connection this worker will not serve (above its share): place it elsewhere. */
  | { type: 'handoff'; connections: number; adopted: number }
  /** A message for a connection another worker (this pid) serves. */
  | { type: 'relay'; to: string; pid: number; data: Payload }
  /** A broadcast to the other workers' connections (the sender wrote to its own). */
  | { type: 'broadcast'; data: Payload; filter: FilterIds }
  /** sendMessage to a worker, or to the master (-1): JSON text. */
  | { type: 'message'; to: number; data: string }
  /** A connection this worker took over (reload_handover) closed: the master forgets where it moved. */
  | { type: 'gone'; id: string }
  /** reload_handover: this connection (the handle rides along) for the worker replacing this one; answered with { accepted }. */
  | ({ type: 'handover'; seq: number } & Moving)
  | Reply;

/** A connection on its way from a worker to its replacement. */
export interface Moving {
  id: string;
  ip: string;
  port: number;
  via?: { ip: string; port: number };
  upgraded: boolean;
  /** What the old worker's handover callback returned, as JSON text. */
  value: string;
  /** The core's framing state and the unfinished bytes (Core.save), base64; empty in raw mode. */
  state: string;
}

/** The answer to a request: its seq and value. */
export interface Reply {
  type: 'reply';
  seq: number;
  value: unknown;
}

export interface WorkerStats {
  pid: number;
  worker: number;
  connections: number;
  accepted: number;
  closed: number;
  aborted: number;
  refused: number;
  messages: number;
  bytes_in: number;
  bytes_out: number;
  errors: Record<string, number>;
  /** Messages for this worker's connections that came from other processes (cross-worker sends, broadcasts). */
  relayed: number;
  /** Of those, the ones whose connection was gone by then. */
  relay_gone: number;
  /** Sends from outside a connection's own callbacks refused because its reply queue was full (broadcasts included). */
  dropped: number;
  /** reload_handover: connections this worker handed to its replacement, and took over from the one it replaced. */
  handed_over: number;
  adopted: number;
  uptime: number;
  rss: number;
}

export function isMessage(m: unknown): m is { type: string } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

/**
 * Requests to one peer over IPC, and their answers. `ask` numbers a request
 * and resolves with the peer's reply; when the peer is gone (`close`), or the
 * request could not be sent, it resolves with the fallback instead, so no
 * caller waits forever.
 */
export class Requests {
  #seq = 0;
  readonly #waiting = new Map<number, { done: (value: unknown) => void; fallback: unknown }>();
  #closed = false;

  /**
   * Sends `msg` with a fresh seq through `send` (which returns false when it
   * could not send). Resolves with the reply's value, or `fallback`.
   */
  ask<T>(send: (msg: { seq: number }) => boolean, msg: object, fallback: T): Promise<T> {
    if (this.#closed) return Promise.resolve(fallback);
    const seq = ++this.#seq;
    return new Promise<T>((resolve) => {
      this.#waiting.set(seq, { done: (v) => resolve(v as T), fallback });
      let sent = false;
      try {
        sent = send({ ...msg, seq });
      } catch {
        sent = false;
      }
      if (!sent) this.answer(seq, fallback);
    });
  }

  /** A reply arrived. */
  answer(seq: number, value: unknown): void {
    const w = this.#waiting.get(seq);
    if (!w) return;
    this.#waiting.delete(seq);
    w.done(value);
  }

  /** The peer is gone: every request still waiting gets its fallback. */
  close(): void {
    this.#closed = true;
    for (const [seq, w] of [...this.#waiting]) this.answer(seq, w.fallback);
  }
}
