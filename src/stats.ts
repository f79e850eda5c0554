// Server-wide counters: per worker, as each worker keeps them, and in total.
import type { WorkerStats } from './ipc.js';

export interface ServerStats {
  total: Omit<WorkerStats, 'pid' | 'worker'> & { workers: number; respawns: number };
  workers: (WorkerStats & { respawns: number })[];
}

/** Adds up the workers' counters. `uptime` in the total is the master's. */
export function summarize(workers: WorkerStats[], respawns: Map<number, number>, uptime: number): ServerStats {
  const list = workers.map((w) => ({ ...w, respawns: respawns.get(w.worker) ?? 0 }));
  const total = {
    workers: list.length,
    connections: 0,
    accepted: 0,
    closed: 0,
    aborted: 0,
    refused: 0,
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
