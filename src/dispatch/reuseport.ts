// dispatch_mode `reuseport` (Node 22.12 and later): every worker binds a
// listening socket of its own on the same port with SO_REUSEPORT, and the
// kernel spreads connections over the workers' own accept queues: no
// thundering herd, no handoff through the master, no shared socket. The
// master binds nothing. With port 0 the first worker's port is the server's:
// the master starts the others once it knows it.
//
// A worker that stops or reloads closes its own socket. Linux (5.14+) moves
// what waits in that socket's accept queue to the other sockets of the group
// when net.ipv4.tcp_migrate_req is 1; otherwise those connections are reset.
// The last socket of a group has nobody to move them to.
import { readFileSync } from 'node:fs';
import type { BoundHandle } from '../internals.js';
import type { DispatchMode } from '../ipc.js';
import type { Dispatch, Handoff, Where } from './index.js';

/** Whether this Node has net's `reusePort` listen option (22.12 and later, 23.1 and later). */
export function reusePortSupported(version = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

/** net.ipv4.tcp_migrate_req: 1, 0, or null where the kernel has no such setting (before 5.14, or not Linux). */
export function migrateReq(): number | null {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim());
  } catch {
    return null;
  }
}

export class ReusePortDispatch implements Dispatch {
  readonly mode: DispatchMode = 'reuseport';
  readonly handle: BoundHandle | undefined = undefined;
  port: number;

  constructor(where: Where) {
    this.port = where.port;
  }

  handoff(conn: Handoff): void {
    // Workers keep what the kernel gives them.
    conn.close();
  }

  loadChanged(): void {}

  close(): void {}
}
