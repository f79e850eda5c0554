// Server-wide counters: per worker, as each worker keeps them, and in total.
import type { WorkerStats } from './ipc.js';

/** Who a worker is, for one that did not answer the stats request in time. */
export type WorkerId = Pick<WorkerStats, 'pid' | 'worker'>;

/**
 * A worker in stats(): its counters (`answered: true`), or, when it did not
 * answer in time (stopped, or its event loop blocked), only who it is
 * (`answered: false`, no counters).
 */
export type WorkerEntry =
  | (WorkerStats & { respawns: number; answered: true })
  | (WorkerId & { respawns: number; answered: false });

export interface ServerStats {
  /**
   * The counters of the workers that answered, added up. `workers` counts
   * every live worker, `not_answering` those that did not answer; `refused`
   * includes `master_refused`: connections the master closed because no
   * worker took them (round_robin, hybrid's handoffs).
   */
  total: Omit<WorkerStats, 'pid' | 'worker'> & {
    workers: number;
    not_answering: number;
    master_refused: number;
    respawns: number;
  };
  workers: WorkerEntry[];
}

/** Adds up the counters of the workers that answered. `uptime` in the total is the master's. */
export function summarize(
  workers: (WorkerStats | (WorkerId & { answered: false }))[],
  respawns: Map<number, number>,
  uptime: number,
  masterRefused = 0,
): ServerStats {
  const list: WorkerEntry[] = workers.map((w) =>
    'answered' in w && w.answered === false
      ? { pid: w.pid, worker: w.worker, respawns: respawns.get(w.worker) ?? 0, answered: false }
      : { ...(w as WorkerStats), respawns: respawns.get(w.worker) ?? 0, answered: true },
  );
  const total = {
    workers: list.length,
    not_answering: 0,
    connections: 0,
    accepted: 0,
    closed: 0,
    aborted: 0,
    refused: masterRefused,
    master_refused: masterRefused,
    messages: 0,
    bytes_in: 0,
    bytes_out: 0,
    errors: {} as Record<string, number>,
    relayed: 0,
    relay_gone: 0,
    dropped: 0,
    handed_over: 0,
    adopted: 0,
    rss: 0,
    respawns: [...respawns.values()].reduce((a, b) => a + b, 0),
    uptime,
  };
  for (const w of list) {
    if (!w.answered) {
      total.not_answering++;
      continue;
    }
    total.connections += w.connections;
    total.accepted += w.accepted;
    total.closed += w.closed;
    total.aborted += w.aborted;
    total.refused += w.refused;
    total.messages += w.messages;
    total.bytes_in += w.bytes_in;
    total.bytes_out += w.bytes_out;
    total.relayed += w.relayed;
    total.relay_gone += w.relay_gone;
    total.dropped += w.dropped;
    total.handed_over += w.handed_over;
    total.adopted += w.adopted;
    total.rss += w.rss;
    for (const [k, v] of Object.entries(w.errors)) total.errors[k] = (total.errors[k] ?? 0) + v;
  }
  return { total, workers: list };
}
