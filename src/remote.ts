// The `remote` handed to callbacks. Reading a socket's peer address costs a
// getpeername call and two strings (~8 us per connection under ApacheBench,
// about a tenth of a short connection's whole cost), so it is read on first
// use. A closed socket no longer knows its peer, so when a `close` or `error`
// callback is bound (they may run after the close) it is read at accept.
import { inspect } from 'node:util';
import type { Remote } from './events.js';
import type { Link } from './link.js';

export class PeerRemote implements Remote {
  readonly id: string;
  keepAlive: boolean | undefined = undefined;
  upgraded: boolean | undefined = undefined;
  via: { ip: string; port: number } | undefined = undefined;
  #link: Link | null;
  #ip = '';
  #port = 0;

  constructor(link: Link | null, id: string, eager: boolean) {
    this.id = id;
    this.#link = link;
    if (eager) this.#read();
  }

  /** A remote whose address is already known (a connection handed over from another worker). */
  static known(id: string, ip: string, port: number, via?: { ip: string; port: number }): PeerRemote {
    const r = new PeerRemote(null, id, false);
    r.#ip = ip;
    r.#port = port;
    r.via = via;
    return r;
  }

  #read(): void {
    const link = this.#link;
    if (link === null) return;
    this.#link = null;
    const peer = link.peer();
    this.#ip = peer.ip;
    this.#port = peer.port;
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
