// Every Node internal tcp-prefork uses, and nothing else. They are what lets a
// worker serve a connection from libuv's TCP handle directly, without a
// net.Socket (its streams, listeners and close path cost about a third of a
// short connection), and what lets the master bind a port without listening,
// as node's own cluster does. Node moves them between versions, so `probe()`
// checks at start-up that each one is there and works; where one is missing,
// the server falls back to net.Socket (run() logs it) and round_robin. The
// test suite runs on Node 20, 22 and 24.
import net from 'node:net';

/** A libuv request for a write or a shutdown, as node's stream_wrap makes them. */
export interface StreamReq {
  handle: TcpHandle;
  oncomplete: (this: StreamReq, status: number) => void;
  /** Ours: the object to tell when it completes. */
  owner: unknown;
  /** Keeps the written bytes alive until libuv is done with them. */
  buffer: unknown;
}

/** A libuv TCP handle (node's TCPWrap), connected or listening. */
export interface TcpHandle {
  onread: ((this: TcpHandle, arrayBuffer: ArrayBuffer | undefined) => void) | null;
  onconnection: ((this: TcpHandle, err: number, client: TcpHandle | undefined) => void) | null;
  readonly writeQueueSize: number;
  readonly fd: number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: StreamReq, data: Uint8Array): number;
  writeUtf8String(req: StreamReq, data: string): number;
  writev(req: StreamReq, chunks: (string | Uint8Array)[], allBuffers: boolean): number;
  shutdown(req: StreamReq): number;
  close(cb?: () => void): void;
  listen(backlog: number): number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  getpeername(out: { address?: string; port?: number; family?: string }): number;
  setNoDelay(on: boolean): number;
  /** Node's StreamBase#useUserBuffer (what net.Socket's `onread` option uses): libuv reads into this buffer. */
  useUserBuffer?(buf: Uint8Array): void;
  [key: symbol]: unknown;
}

/** What reading and writing on a TcpHandle needs from node's stream_wrap binding. */
export interface Streams {
  WriteWrap: new () => StreamReq;
  ShutdownWrap: new () => StreamReq;
  /** Shared with C++: after a read, its byte count (or error) and offset; after a write, whether it went async. */
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
  /** libuv's UV_EOF: the peer half-closed. */
  UV_EOF: number;
  /** Node's Buffer subclass, to view a read without subarray's overhead (Buffer itself when hidden). */
  FastBuffer: new (
    ab: ArrayBufferLike,
    offset: number,
    length: number,
  ) => Buffer;
}

type Binding = (name: string) => Record<string, unknown>;

function binding(name: string): Record<string, unknown> | null {
  try {
    return (process as unknown as { binding: Binding }).binding(name);
  } catch {
    return null;
  }
}

let streams: Streams | null | undefined;

/**
 * The stream_wrap primitives, or null where this Node lacks them (checked
 * once), or where TCP_PREFORK_NET_SOCKET=1 asks for the net.Socket path (to
 * compare the two, or to work around a Node that changed them).
 */
export function streamPrimitives(): Streams | null {
  if (streams !== undefined) return streams;
  streams = null;
  if (process.env.TCP_PREFORK_NET_SOCKET === '1') return null;
  const sw = binding('stream_wrap');
  const uv = binding('uv');
  if (!sw || !uv) return null;
  const { WriteWrap, ShutdownWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync } = sw;
  if (
    typeof WriteWrap !== 'function' ||
    typeof ShutdownWrap !== 'function' ||
    !(streamBaseState instanceof Int32Array) ||
    typeof kReadBytesOrError !== 'number' ||
    typeof kArrayBufferOffset !== 'number' ||
    typeof kLastWriteWasAsync !== 'number' ||
    typeof uv.UV_EOF !== 'number'
  ) {
    return null;
  }
  const species = (Buffer as unknown as { [Symbol.species]?: Streams['FastBuffer'] })[Symbol.species];
  streams = {
    WriteWrap: WriteWrap as Streams['WriteWrap'],
    ShutdownWrap: ShutdownWrap as Streams['ShutdownWrap'],
    state: streamBaseState,
    kReadBytesOrError,
    kArrayBufferOffset,
    kLastWriteWasAsync,
    UV_EOF: uv.UV_EOF as number,
    FastBuffer:
      typeof species === 'function' && species !== (Buffer as unknown)
        ? species
        : (((ab: ArrayBufferLike, off: number, len: number) => Buffer.from(ab, off, len)) as unknown as Streams['FastBuffer']),
  };
  return streams;
}

const HANDLE_METHODS = [
  'readStart',
  'readStop',
  'writeBuffer',
  'writeUtf8String',
  'writev',
  'shutdown',
  'close',
  'getpeername',
  'setNoDelay',
] as const;

/** Whether `h` is a libuv TCP handle with every method the handle-level path uses. */
export function isTcpHandle(h: unknown): h is TcpHandle {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  return HANDLE_METHODS.every((m) => typeof o[m] === 'function') && 'writeQueueSize' in o;
}

/** The libuv handle inside a net.Socket or a listening net.Server (node's `_handle`), or null. */
export function handleOf(s: net.Socket | net.Server): TcpHandle | null {
  const h = (s as unknown as { _handle?: unknown })._handle;
  return isTcpHandle(h) || (typeof h === 'object' && h !== null && 'onconnection' in h) ? (h as TcpHandle) : null;
}

/**
 * Takes the handle out of a socket that has not been read from (for a
 * handoff): reading stops, the socket is destroyed without closing it.
 */
export function detach(socket: net.Socket): TcpHandle | null {
  const s = socket as unknown as { _handle: (TcpHandle & { reading?: boolean }) | null };
  const handle = s._handle;
  if (!handle) return null;
  if (handle.reading) {
    handle.reading = false;
    handle.readStop();
  }
  s._handle = null;
  socket.destroy();
  return handle;
}

/**
 * Makes a listening net.Server hand each accepted connection to `fn` as its
 * raw handle, unread, instead of making a net.Socket of it. Returns false
 * (and changes nothing) where this Node does not allow it.
 */
export function acceptHandles(server: net.Server, fn: (client: TcpHandle) => void): boolean {
  const listening = handleOf(server);
  if (!listening || typeof listening.onconnection !== 'function') return false;
  listening.onconnection = (err, client) => {
    if (err === 0 && client !== undefined && isTcpHandle(client)) fn(client);
  };
  return true;
}

/**
 * Makes libuv read the handle's bytes into `buf`, a buffer the caller owns and
 * reuses (node's useUserBuffer, what net.Socket's `onread: { buffer }` option
 * does), instead of a fresh ArrayBuffer per read: onread then gets no
 * ArrayBuffer, and the bytes are buf[0, nread) until the next read of any
 * handle given the same buffer. Returns false (and changes nothing) where
 * this Node does not offer it.
 */
export function readInto(handle: TcpHandle, buf: Uint8Array): boolean {
  if (typeof handle.useUserBuffer !== 'function') return false;
  handle.useUserBuffer(buf);
  return true;
}

/**
 * Bytes libuv still holds for the TCP connection under a net.Socket or a
 * TLSSocket made over one (its `_parent`): they shrink as the peer reads,
 * even while one big write is in flight. Null where this Node hides them.
 */
export function socketQueue(socket: net.Socket): number | null {
  const s = socket as unknown as { _parent?: { _handle?: { writeQueueSize?: unknown } }; _handle?: { writeQueueSize?: unknown } };
  const q = (s._parent ?? s)._handle?.writeQueueSize;
  return typeof q === 'number' ? q : null;
}

/** A handle bound to a port but not listening (net._createServerHandle, as node's cluster uses). */
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

/** net._createServerHandle, or null where this Node lacks it. */
export function createServerHandle(): CreateServerHandle | null {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  return typeof create === 'function' ? create : null;
}

/** What this Node offers, checked once at start-up: what is missing is named, with what the server does instead. */
export function probe(): { handles: boolean; sharedBind: boolean; missing: string[] } {
  const missing: string[] = [];
  const handles = streamPrimitives() !== null;
  if (!handles) {
    missing.push(
      process.env.TCP_PREFORK_NET_SOCKET === '1'
        ? 'TCP_PREFORK_NET_SOCKET=1: connections are served with net.Socket'
        : "process.binding('stream_wrap') / ('uv'): connections are served with net.Socket",
    );
  }
  const sharedBind = createServerHandle() !== null;
  if (!sharedBind) missing.push('net._createServerHandle: dispatch_mode shared and hybrid are unavailable (round_robin works)');
  return { handles, sharedBind, missing };
}
