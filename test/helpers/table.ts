// A ConnectionTable served in the test process itself, over real loopback
// sockets, as a worker serves one (src/worker.ts): at the handle level
// (acceptHandles, HandleLink) or at the socket level (net.Server, SocketLink).
// No fork: host logic is covered where a test can watch every hook.
import net from 'node:net';
import { ConnectionTable, type TableConfig, tableConfig } from '../../src/connections.js';
import type { ServerError } from '../../src/errors.js';
import type { Handlers, Remote } from '../../src/events.js';
import { acceptHandles } from '../../src/internals.js';
import { HandleLink, SocketLink, type Link } from '../../src/link.js';
import { PeerRemote } from '../../src/remote.js';
import { Settings } from '../../src/settings.js';
import { Client, until } from './proc.js';

/** How a connection reaches the table: libuv's handle directly, or a net.Socket. */
export type LinkKind = 'handle' | 'socket';
export const KINDS: readonly LinkKind[] = ['handle', 'socket'];

/** What the table told its holder. */
export interface HookLog {
  loadChanged: number;
  drained: number;
  retire: string[];
}

const open = new Set<Bench>();

/** One table, its listening socket, and what its hooks, `error` and `close` callbacks saw. */
export class Bench {
  readonly kind: LinkKind;
  readonly table: ConnectionTable;
  readonly server: net.Server;
  readonly hooks: HookLog = { loadChanged: 0, drained: 0, retire: [] };
  readonly errors: { err: ServerError; remote?: Remote }[] = [];
  /** Every close callback, in order (a remote twice means close ran twice). */
  readonly closes: Remote[] = [];
  /** Every remote the table was given, in accept order. */
  readonly remotes: PeerRemote[] = [];
  readonly clients = new Set<Client>();
  /** Plain sockets (for a client that reads its own way), destroyed by `closeBenches`. */
  readonly sockets = new Set<net.Socket>();
  port = 0;
  #seq = 0;
  /** Each client's local port, kept: a closed socket forgets it. */
  readonly #ports = new WeakMap<Client | net.Socket, number>();

  constructor(kind: LinkKind, handlers: Handlers) {
    this.kind = kind;
    // error and close are called directly (never through the table's #run), so wrapping them
    // changes nothing; accept, receive, bufferFull and bufferDrain are passed as they are,
    // since an `async function` is run differently from a plain one.
    const wrapped: Handlers = {
      ...handlers,
      error: (err, remote) => {
        this.errors.push({ err, remote });
        return handlers.error?.(err, remote);
      },
      close: (remote) => {
        this.closes.push(remote);
        return handlers.close?.(remote);
      },
    };
    this.table = new ConnectionTable(wrapped, {
      loadChanged: () => this.hooks.loadChanged++,
      drained: () => this.hooks.drained++,
      retire: (reason) => this.hooks.retire.push(reason),
      adoptedClosed: () => {},
    });
    this.server = kind === 'socket' ? net.createServer({ allowHalfOpen: true }) : net.createServer();
  }

  #open(link: Link): void {
    // Eager, as the worker reads it when close or error is bound (they are, here).
    const remote = new PeerRemote(link, `${this.kind}-${++this.#seq}`, true);
    this.remotes.push(remote);
    this.table.open(link, remote);
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    if (this.kind === 'socket') {
      this.server.on('connection', (socket) => this.#open(new SocketLink(socket)));
    } else if (!HandleLink.available() || !acceptHandles(this.server, (client) => this.#open(new HandleLink(client)))) {
      throw new Error('this Node cannot serve connections at the handle level');
    }
  }

  /** A client on this table's port, destroyed by `closeBenches`. */
  async connect(): Promise<Client> {
    const c = new Client(this.port);
    this.clients.add(c);
    await c.ready;
    this.#ports.set(c, c.socket.localPort!);
    return c;
  }

  /** A plain socket on this table's port, connected. */
  async socket(): Promise<net.Socket> {
    const s = net.connect(this.port, '127.0.0.1');
    this.sockets.add(s);
    s.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    this.#ports.set(s, s.localPort!);
    return s;
  }

  /** The remote of the connection this client is, on the server side (by the client's local port). */
  remoteOf(c: Client | net.Socket): PeerRemote {
    const port = this.#ports.get(c);
    const r = this.remotes.find((x) => (x.via ?? x).port === port);
    if (!r) throw new Error(`no connection from port ${port}`);
    return r;
  }

  /** Waits until the table has read `n` bytes in all (so the next write is a read of its own). */
  async read(n: number, ms = 3000): Promise<void> {
    if (!(await until(() => this.table.counters.bytes_in >= n, ms, 1))) {
      throw new Error(`the table read ${this.table.counters.bytes_in} bytes, not ${n}`);
    }
  }

  /** Destroys clients and connections, stops the clocks, closes the listener. */
  async close(): Promise<void> {
    open.delete(this);
    for (const c of this.clients) c.destroy();
    for (const s of this.sockets) s.destroy();
    const now = Date.now();
    // A drain whose hard deadline has passed destroys every connection left at its next tick.
    if (this.table.size > 0) this.table.drain(now, now);
    await until(() => this.table.size === 0, 2000, 5);
    this.table.stopTimers();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The settings a test starts from, in the store the core opens connections with. */
export function storeWith(values: Record<string, unknown>): { settings: Settings; store: number } {
  const settings = new Settings();
  settings.reset();
  for (const [k, v] of Object.entries(values)) settings.set(k, v);
  // Today the store is the process's; once Settings owns one, TableConfig.store carries it.
  const store = (settings as unknown as { store?: number }).store ?? 0;
  return { settings, store };
}

/**
 * A table configured from `values` as a worker configures one from the
 * master's settings (overridden by `cfg`), listening on 127.0.0.1, port 0.
 */
export async function serve(
  kind: LinkKind,
  handlers: Handlers,
  values: Record<string, unknown>,
  cfg: Partial<TableConfig> = {},
): Promise<Bench> {
  const { settings: st, store } = storeWith(values);
  const bench = new Bench(kind, handlers);
  bench.table.configure({ ...tableConfig(st), store, ...cfg });
  open.add(bench);
  await bench.listen();
  return bench;
}

/** For afterEach: closes every bench still open. */
export async function closeBenches(): Promise<void> {
  for (const b of [...open]) await b.close();
}

/** Busy-waits `ms`: a synchronous callback that takes time. */
export function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* spin */
  }
}
