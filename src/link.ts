// The bytes in and out of one connection: a Link. The connection table talks
// to every connection through this interface and never asks which kind it has.
// `HandleLink` serves it from libuv's TCP handle directly (reads arrive in
// `onread`, writes go through WriteWrap, FIN through ShutdownWrap): no
// net.Socket, no stream machinery, no listeners, one object per connection.
// `SocketLink` wraps a net.Socket, for TLS and for a Node without the
// internals (see internals.ts).
import type net from 'node:net';
import tls from 'node:tls';
import { readInto, socketQueue, streamPrimitives, type StreamReq, type Streams, type TcpHandle } from './internals.js';

/** What a link tells its owner, with the connection it was started with. */
export interface LinkEvents<C> {
  /** Bytes arrived. `chunk` is the reader's to keep. */
  data(conn: C, chunk: Buffer): void;
  /** The peer half-closed: nothing more will arrive. */
  end(conn: C): void;
  /** The link is closed (once); `aborted` when a read or write failed (a reset), `error` when the link knows why (TLS). */
  close(conn: C, aborted: boolean, error?: Error): void;
}

export interface Link {
  /** Starts reading; what happens goes to `events`, with `conn`. */
  start<C>(conn: C, events: LinkEvents<C>): void;
  write(data: string | Uint8Array): void;
  /** Several writes in one system call. */
  writev(list: (string | Uint8Array)[]): void;
  /** Bytes written and not yet handed to the kernel. */
  queued(): number;
  /** Grows whenever a write has been handed to the kernel whole: output still flowing (the heartbeat's send_timeout). */
  written(): number;
  /** Bytes libuv holds for the kernel: they shrink while the peer reads, also during one big write. */
  outQueue(): number;
  /** A TLS handshake has not completed yet (handshake_timeout). */
  handshaking(): boolean;
  /** Calls `cb` once everything written so far is handed to the kernel (not if the link closes first). */
  flushed(cb: () => void): void;
  pause(): void;
  resume(): void;
  /** FIN after what is queued; the link closes once the peer has closed too (or on destroy). */
  end(): void;
  /** Closes now. */
  destroy(): void;
  /** The peer's address (getpeername); empty once the link is closed. */
  peer(): { ip: string; port: number };
  /** The libuv handle, if this link can move to another process as one (reload_handover); null otherwise (TLS, net.Socket). */
  movable(): TcpHandle | null;
  /** Lets go of the connection without closing it (it moved to another process): no more events; our copy is closed. */
  release(): void;
}

const OWNER = Symbol('tcp-prefork link');

// ---------------------------------------------------------------- libuv handle

let S: Streams | null = null;

/**
 * The buffer every handle of this process reads into (see readInto): reads
 * are handled one at a time, and each is copied out (into Node's buffer pool
 * when small) before the next, so a read costs one copy instead of an
 * ArrayBuffer of its own that the GC must later free.
 */
const READ_SIZE = 65536;
let readBuf: Buffer | null = null;

/** onread of every handle-level connection (one function, no closure per connection). */
function onread(this: TcpHandle, ab: ArrayBuffer | undefined): void {
  const link = this[OWNER] as HandleLink;
  const s = S!;
  const nread = s.state[s.kReadBytesOrError];
  if (nread > 0) {
    let chunk: Buffer;
    if (ab === undefined) {
      // Read into readBuf: the chunk is the reader's to keep, so it gets a copy.
      chunk = Buffer.allocUnsafe(nread);
      readBuf!.copy(chunk, 0, 0, nread);
    } else {
      chunk = new s.FastBuffer(ab, s.state[s.kArrayBufferOffset], nread);
    }
    link.events!.data(link.conn, chunk);
  } else if (nread < 0) {
    link.readEnded(nread);
  }
}

/** onread of a handle let go of (it moved to another process). */
function ignore(): void {}

function afterWrite(this: StreamReq, status: number): void {
  (this.owner as HandleLink).writeDone(status);
}

function afterShutdown(this: StreamReq, status: number): void {
  (this.owner as HandleLink).shutdownDone(status);
}

export class HandleLink implements Link {
  readonly handle: TcpHandle;
  conn: unknown = null;
  events: LinkEvents<unknown> | null = null;
  /** Writes libuv has not finished. */
  #writing = 0;
  /** Writes handed to the kernel (at once, or when libuv finished them). */
  #done = 0;
  #waiting: (() => void)[] | null = null;
  #reading = false;
  #peerEnded = false;
  #ended = false;
  #shutdown = false;
  #closed = false;
  #aborted = false;

  constructor(handle: TcpHandle) {
    this.handle = handle;
  }

  /** Whether this Node lets connections be served at the handle level (checked once). */
  static available(): boolean {
    S ??= streamPrimitives();
    return S !== null;
  }

  start<C>(conn: C, events: LinkEvents<C>): void {
    S ??= streamPrimitives();
    const h = this.handle;
    this.conn = conn;
    this.events = events as LinkEvents<unknown>;
    h[OWNER] = this;
    h.onread = onread;
    readInto(h, (readBuf ??= Buffer.allocUnsafeSlow(READ_SIZE)));
    h.setNoDelay(true);
    this.resume();
  }

  write(data: string | Uint8Array): void {
    if (this.#closed || this.#ended) return;
    const req = this.#req();
    const err = typeof data === 'string' ? this.handle.writeUtf8String(req, data) : this.handle.writeBuffer(req, data);
    this.#dispatched(req, err, data);
  }

  writev(list: (string | Uint8Array)[]): void {
    if (this.#closed || this.#ended) return;
    let allBuffers = true;
    for (let i = 0; i < list.length; i++) if (typeof list[i] === 'string') allBuffers = false;
    let chunks: (string | Uint8Array)[] = list;
    if (!allBuffers) {
      // Strings go with their encoding, in pairs.
      chunks = new Array(list.length * 2);
      for (let i = 0; i < list.length; i++) {
        chunks[2 * i] = list[i];
        chunks[2 * i + 1] = 'utf8';
      }
    }
    const req = this.#req();
    this.#dispatched(req, this.handle.writev(req, chunks, allBuffers), list);
  }

  #req(): StreamReq {
    const req = new S!.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = afterWrite;
    req.owner = this;
    req.buffer = null;
    return req;
  }

  #dispatched(req: StreamReq, err: number, data: unknown): void {
    if (err !== 0) {
      this.#abort();
      return;
    }
    // Written at once, or queued in libuv (then `data` must stay alive until afterWrite).
    if (S!.state[S!.kLastWriteWasAsync] !== 0) {
      req.buffer = data;
      this.#writing++;
    } else {
      this.#done++;
    }
  }

  /** A queued write finished. */
  writeDone(status: number): void {
    this.#writing--;
    this.#done++;
    if (this.#closed) return; // cancelled by the close
    if (status < 0) {
      this.#abort();
      return;
    }
    if (this.#writing === 0 && this.#waiting !== null) {
      const waiting = this.#waiting;
      this.#waiting = null;
      for (const cb of waiting) cb();
    }
  }

  queued(): number {
    return this.#closed ? 0 : this.handle.writeQueueSize;
  }

  written(): number {
    return this.#done;
  }

  outQueue(): number {
    return this.queued();
  }

  handshaking(): boolean {
    return false;
  }

  flushed(cb: () => void): void {
    if (this.#writing === 0) process.nextTick(cb);
    else (this.#waiting ??= []).push(cb);
  }

  pause(): void {
    if (this.#reading && !this.#closed) {
      this.#reading = false;
      this.handle.readStop();
    }
  }

  resume(): void {
    if (!this.#reading && !this.#closed && !this.#peerEnded) {
      this.#reading = true;
      if (this.handle.readStart() !== 0) this.#abort();
    }
  }

  /** The read side ended: the peer's FIN, or an error. */
  readEnded(nread: number): void {
    this.#reading = false;
    if (nread !== S!.UV_EOF) {
      this.#abort();
      return;
    }
    this.#peerEnded = true;
    this.events!.end(this.conn);
    if (this.#shutdown) this.destroy();
  }

  end(): void {
    if (this.#ended || this.#closed) return;
    this.#ended = true;
    const req = new S!.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = afterShutdown;
    req.owner = this;
    if (this.handle.shutdown(req) !== 0) this.destroy();
  }

  /** Our FIN is out (after everything queued). */
  shutdownDone(status: number): void {
    this.#shutdown = true;
    if (status < 0 || this.#peerEnded) this.destroy();
  }

  #abort(): void {
    this.#aborted = true;
    this.destroy();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#waiting = null;
    this.handle.close(() => this.events!.close(this.conn, this.#aborted));
  }

  peer(): { ip: string; port: number } {
    const out: { address?: string; port?: number } = {};
    if (!this.#closed) this.handle.getpeername(out);
    return { ip: out.address ?? '', port: out.port ?? 0 };
  }

  movable(): TcpHandle | null {
    return this.#closed || this.#ended ? null : this.handle;
  }

  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#waiting = null;
    this.handle.readStop();
    // (onread must stay a function: node asserts it)
    this.handle.onread = ignore;
    this.handle[OWNER] = undefined;
    // The other process has its own copy of the socket: closing ours sends nothing to the peer.
    this.handle.close();
  }
}

// ---------------------------------------------------------------- net.Socket

type Owned = net.Socket & { [OWNER]: SocketLink };
const EMPTY = Buffer.alloc(0);

// Listeners shared by every socket (no closures per connection); the socket carries its link.
function onData(this: net.Socket, chunk: Buffer): void {
  const link = (this as Owned)[OWNER];
  link.events!.data(link.conn, chunk);
}
function onEnd(this: net.Socket): void {
  const link = (this as Owned)[OWNER];
  link.events!.end(link.conn);
}
function onError(this: net.Socket, err: Error): void {
  const link = (this as Owned)[OWNER];
  link.aborted = true;
  link.error ??= err;
}
function onClose(this: net.Socket): void {
  const link = (this as Owned)[OWNER];
  link.events!.close(link.conn, link.aborted, link.handshaking() ? tlsFailure(link.error) : undefined);
}
/** A TLS handshake failure worth an error event (OpenSSL said why); a peer that reset or left mid-handshake is not one. */
function tlsFailure(err: Error | null): Error | undefined {
  const e = err as (Error & { code?: unknown; library?: unknown }) | null;
  if (e === null) return undefined;
  return (typeof e.code === 'string' && e.code.startsWith('ERR_SSL')) || e.library === 'SSL routines' ? e : undefined;
}
function onSecure(this: net.Socket): void {
  (this as Owned)[OWNER].secure = true;
}

export class SocketLink implements Link {
  readonly socket: net.Socket;
  conn: unknown = null;
  events: LinkEvents<unknown> | null = null;
  aborted = false;
  /** The first error the socket reported. */
  error: Error | null = null;
  /** TLS: the handshake completed (always true for plain TCP). */
  secure: boolean;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.secure = !(socket instanceof tls.TLSSocket);
  }

  start<C>(conn: C, events: LinkEvents<C>): void {
    const s = this.socket;
    this.conn = conn;
    this.events = events as LinkEvents<unknown>;
    (s as Owned)[OWNER] = this;
    s.setNoDelay(true);
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('error', onError);
    s.on('close', onClose);
    if (!this.secure) s.once('secure', onSecure);
    s.resume();
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  writev(list: (string | Uint8Array)[]): void {
    const s = this.socket;
    s.cork();
    for (let i = 0; i < list.length; i++) s.write(list[i]);
    s.uncork();
  }

  queued(): number {
    return this.socket.writableLength;
  }

  written(): number {
    return this.socket.bytesWritten - this.socket.writableLength;
  }

  outQueue(): number {
    return socketQueue(this.socket) ?? this.socket.writableLength;
  }

  handshaking(): boolean {
    return !this.secure;
  }

  flushed(cb: () => void): void {
    // A write's callback runs once everything queued before it is flushed.
    this.socket.write(EMPTY, () => cb());
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  peer(): { ip: string; port: number } {
    return { ip: this.socket.remoteAddress ?? '', port: this.socket.remotePort ?? 0 };
  }

  movable(): TcpHandle | null {
    // A TLS session cannot move; net.Socket's path is the fallback and does not try.
    return null;
  }

  release(): void {
    this.socket.destroy();
  }
}
