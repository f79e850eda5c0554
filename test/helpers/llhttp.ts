// node:http as the reference parser for the differential test: its llhttp in
// strict mode (no insecureHTTPParser), in a server on 127.0.0.1 port 0 inside
// the test process. Each input goes over a fresh raw socket, half-closed
// after the bytes; the server records every request it parsed (method, url,
// the body bytes it read, whether the body ended), an upgrade or CONNECT and
// the raw bytes after it, and the parse error (`clientError`).
import http from 'node:http';
import net from 'node:net';

export interface LlRequest {
  method: string;
  url: string;
  /** Body bytes read (decoded, for a chunked body). */
  body: number;
  /** The body ended (false: the input ended, or an error came, inside it). */
  complete: boolean;
  /** 'upgrade' or 'connect': the connection switched protocols after this request. */
  kind: 'request' | 'upgrade' | 'connect';
  /** After an upgrade or CONNECT: the bytes node handed over (its `head`, then later data). */
  raw: number;
}

export interface LlResult {
  requests: LlRequest[];
  /** err.code of the parse error (e.g. HPE_INVALID_CHUNK_SIZE), or null. */
  error: string | null;
  /** llhttp's reason for it (e.g. "Invalid character in chunk size"). */
  reason: string | null;
}

interface Pending extends LlResult {
  closed: Promise<void>;
}

export class Llhttp {
  readonly #server: http.Server;
  readonly #pending = new Map<number, Pending>();
  #port = 0;

  constructor() {
    // requireHostHeader off: a missing Host is node's rule, not llhttp's; a big
    // maxHeaderSize keeps node's header limit out of the comparison.
    const server = http.createServer({ requireHostHeader: false, maxHeaderSize: 1 << 24 });
    server.on('connection', (socket: net.Socket) => {
      const rec = { requests: [], error: null, reason: null } as unknown as Pending;
      rec.closed = new Promise((resolve) => socket.on('close', () => resolve()));
      this.#pending.set(socket.remotePort ?? -1, rec);
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const r: LlRequest = { method: req.method ?? '', url: req.url ?? '', body: 0, complete: false, kind: 'request', raw: 0 };
      this.#of(req.socket)?.requests.push(r);
      req.on('data', (d: Buffer) => {
        r.body += d.length;
      });
      req.on('end', () => {
        r.complete = req.complete;
        // an explicit length: else node answers an HTTP/1.0 keep-alive request with
        // "Connection: close" and closes before its parser sees the end of the input
        res.writeHead(200, { 'Content-Length': '0' });
        res.end();
      });
    });
    const switched = (kind: 'upgrade' | 'connect') => (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const r: LlRequest = { method: req.method ?? '', url: req.url ?? '', body: 0, complete: true, kind, raw: head.length };
      this.#of(socket)?.requests.push(r);
      socket.on('data', (d: Buffer) => {
        r.raw += d.length;
      });
      socket.on('end', () => socket.end());
      socket.on('error', () => {});
    };
    server.on('upgrade', switched('upgrade'));
    server.on('connect', switched('connect'));
    server.on('clientError', (err: Error & { code?: string; reason?: string }, socket: net.Socket) => {
      const rec = this.#of(socket);
      if (rec && rec.error === null) {
        rec.error = err.code ?? 'ERROR';
        rec.reason = err.reason ?? err.message;
      }
      socket.destroy();
    });
    this.#server = server;
  }

  #of(socket: net.Socket): Pending | undefined {
    return this.#pending.get(socket.remotePort ?? -1);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as net.AddressInfo).port;
    return this;
  }

  /** What node's parser makes of `bytes` sent on one connection, then a FIN. */
  async parse(bytes: Uint8Array): Promise<LlResult> {
    const client = net.connect(this.#port, '127.0.0.1');
    client.on('error', () => {});
    client.on('data', () => {});
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const port = client.localPort ?? -1;
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.end(bytes);
    await clientClosed;
    let rec = this.#pending.get(port);
    for (let i = 0; rec === undefined && i < 200; i++) {
      await new Promise((r) => setTimeout(r, 1));
      rec = this.#pending.get(port);
    }
    if (rec === undefined) throw new Error(`llhttp harness: no server record for port ${port}`);
    await rec.closed;
    this.#pending.delete(port);
    return { requests: rec.requests, error: rec.error, reason: rec.reason };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** The methods the running node's llhttp takes in an HTTP/1.x request line (http.METHODS, less PRI). */
export const NODE_METHODS: ReadonlySet<string> = new Set(http.METHODS.filter((m) => m !== 'PRI'));
