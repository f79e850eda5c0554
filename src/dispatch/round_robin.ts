// dispatch_mode `round_robin`: the master itself accepts every connection and
// places it on the least-loaded worker (node's cluster round_robin_handle).
// It never reads: the connection travels as a raw libuv handle, so the
// worker's first read gets every byte.
import net from 'node:net';
import type { MaxConnError } from '../errors.js';
import { acceptHandles, type BoundHandle } from '../internals.js';
import type { DispatchMode } from '../ipc.js';
import { Balancer, handoff, type Handoff } from './balancer.js';
import type { Dispatch, Pool, Where } from './index.js';

export class RoundRobinDispatch implements Dispatch {
  readonly mode: DispatchMode = 'round_robin';
  readonly handle: BoundHandle | undefined = undefined;
  readonly port: number;
  readonly #balancer: Balancer;
  readonly #close: () => void;

  private constructor(port: number, balancer: Balancer, close: () => void) {
    this.port = port;
    this.#balancer = balancer;
    this.#close = close;
  }

  static async open(
    where: Where,
    pool: Pool,
    onRefuse: (err: MaxConnError) => void,
    onDrop: () => void = () => {},
  ): Promise<RoundRobinDispatch> {
    const balancer = new Balancer(() => pool.seats(), where.maxConn, onRefuse, onDrop);
    // pauseOnConnect: a socket the master never reads keeps every byte for the worker.
    const server = net.createServer({ pauseOnConnect: true }, (socket) => balancer.place(handoff(socket)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: where.ip, port: where.port, backlog: where.backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Where the internals allow, take the raw handles instead: no net.Socket made in the master.
    acceptHandles(server, (client) => balancer.place(handoff(client)));
    const port = (server.address() as net.AddressInfo).port;
    return new RoundRobinDispatch(port, balancer, () => server.close());
  }

  handoff(conn: Handoff): void {
    this.#balancer.place(conn);
  }

  loadChanged(): void {}

  close(): void {
    this.#balancer.close();
    this.#close();
  }
}
