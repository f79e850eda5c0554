// Master–worker messages. Every message carries a `type`; each side keeps one
// dispatch table keyed by it (see master.ts and worker.ts).

/** Env var that marks a forked worker and carries its index. */
export const WORKER_ENV = 'TCP_PREFORK_WORKER';

export type ToWorker =
  /** Settings (serialized store, base64) and how connections arrive; a listening handle may ride along. */
  | { type: 'setup'; settings: string; port: number; mode: 'shared' | 'round_robin' | 'hybrid' }
  /** hybrid: every worker's open connections, by worker slot, as the master last heard. */
  | { type: 'loads'; loads: number[] }
  /** A socket accepted by the master (round_robin), or passed on by a sibling. */
  | { type: 'conn' }
  /** Stop gracefully: stop accepting, drain, exit; within `ms` of when it was sent (the master's SIGKILL follows). */
  | { type: 'stop'; ms: number; sentAt: number }
  /** Report stats (answered with 'stats'). */
  | { type: 'stats'; seq: number };

export type ToMaster =
  /** The worker's script called run(): send it the setup. */
  | { type: 'hello' }
  /** The worker accepts connections. */
  | { type: 'ready' }
  /** The worker began a stop of its own (a signal, max_request): start a replacement now. */
  | { type: 'retiring'; reason: string }
  /** The worker's open connection count changed (round_robin balancing). */
  | { type: 'load'; connections: number; adopted: number }
  /** A socket this worker will not serve (it is stopping): hand it to another worker. */
  | { type: 'handoff'; connections: number; adopted: number }
  | { type: 'stats'; seq: number; stats: WorkerStats };

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
  uptime: number;
  rss: number;
}

export function isMessage(m: unknown): m is { type: string } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}
