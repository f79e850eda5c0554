// The master's listening socket for dispatch_mode `shared`: bound but not
// listening, so the master never accepts; each worker calls listen() on its
// copy and the kernel hands connections to whichever worker accepts first.
// This is what node's cluster does for its shared handles.
import net from 'node:net';
import { getSystemErrorName } from 'node:util';

export interface BoundHandle {
  getsockname(out: { address?: string; port?: number }): number;
  close(cb?: () => void): void;
}

type CreateServerHandle = (
  address: string,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => BoundHandle | number;

/** Binds ip:port without listening. Throws an Error with a system `code` (EADDRINUSE, ...). */
export function bindShared(ip: string, port: number): { handle: BoundHandle; port: number } {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw new Error('this Node.js has no net._createServerHandle; use dispatch_mode round_robin');
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
