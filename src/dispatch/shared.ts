// dispatch_mode `shared`: the master binds without listening and gives every
// worker the socket; each listens on its copy, and the kernel hands each
// connection to whichever worker accepts first (node's cluster shared_handle).
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { createServerHandle, type BoundHandle } from '../internals.js';
import type { DispatchMode } from '../ipc.js';
import type { Dispatch, Handoff, Where } from './index.js';

/** Binds ip:port without listening. Throws an Error with a system `code` (EADDRINUSE, ...). */
export function bindShared(ip: string, port: number): { handle: BoundHandle; port: number } {
  const create = createServerHandle();
  if (!create) throw new Error('this Node.js has no net._createServerHandle; use dispatch_mode round_robin');
  const result = create(ip, port, net.isIP(ip) === 6 ? 6 : 4);
  if (typeof result === 'number') {
    const code = getSystemErrorName(result);
    throw Object.assign(new Error(`cannot bind ${ip}:${port}: ${code}`), { code, errno: result, address: ip, port });
  }
  // libuv defers EADDRINUSE from bind() to listen() in the same process, and
  // a worker's copy of the socket would then listen on a random port. An
  // unbound socket shows as port 0, so check here.
  const out: { port?: number } = {};
  const err = result.getsockname(out);
  if (err || !out.port || (port !== 0 && out.port !== port)) {
    result.close();
    const code = 'EADDRINUSE';
    throw Object.assign(new Error(`cannot bind ${ip}:${port}: ${code}`), { code, address: ip, port });
  }
  return { handle: result, port: out.port };
}

export class SharedDispatch implements Dispatch {
  readonly mode: DispatchMode = 'shared';
  readonly port: number;
  handle: BoundHandle | undefined;

  constructor(where: Where) {
    const bound = bindShared(where.ip, where.port);
    this.handle = bound.handle;
    this.port = bound.port;
  }

  handoff(conn: Handoff): void {
    // Workers keep what they accept here; nothing should come back.
    conn.close();
  }

  loadChanged(): void {}

  close(): void {
    this.handle?.close();
    this.handle = undefined;
  }
}
