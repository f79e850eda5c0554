// The `remote` handed to callbacks. Reading a socket's peer address costs a
// getpeername call and two strings (~8 us per connection under ApacheBench,
// about a tenth of a short connection's whole cost), so it is read on first
// use. A closed socket no longer knows its peer, so when a `close` or `error`
// callback is bound (they may run after the close) it is read at accept.
import type { Socket } from 'node:net';
import { inspect } from 'node:util';
import type { Remote } from './events.js';

export class PeerRemote implements Remote {
  readonly id: string;
  keepAlive: boolean | undefined = undefined;
  upgraded: boolean | undefined = undefined;
  via: { ip: string; port: number } | undefined = undefined;
  #socket: Socket | null;
  #ip = '';
  #port = 0;

  constructor(socket: Socket, id: string, eager: boolean) {
    this.id = id;
    this.#socket = socket;
    if (eager) this.#read();
  }

  #read(): void {
    const s = this.#socket;
    if (s === null) return;
    this.#socket = null;
    this.#ip = s.remoteAddress ?? '';
    this.#port = s.remotePort ?? 0;
  }

  get ip(): string {
    this.#read();
    return this.#ip;
  }

  set ip(ip: string) {
    this.#read();
    this.#ip = ip;
  }

  get port(): number {
    this.#read();
    return this.#port;
  }

  set port(port: number) {
    this.#read();
    this.#port = port;
  }

  toJSON(): Remote {
    const out: Remote = { ip: this.ip, port: this.port, id: this.id };
    if (this.keepAlive !== undefined) out.keepAlive = this.keepAlive;
    if (this.upgraded !== undefined) out.upgraded = this.upgraded;
    if (this.via !== undefined) out.via = this.via;
    return out;
  }

  [inspect.custom](): Remote {
    return this.toJSON();
  }
}
