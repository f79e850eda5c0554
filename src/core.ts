// The WASM core binding: one instance per process, created on first use.
// The hot path (`feed`) calls raw exports; views into linear memory are
// re-derived whenever `memory.grow` has replaced the buffer, and user code is
// only ever given bytes it may keep.
import { existsSync, readFileSync } from 'node:fs';
import * as S from '../assembly/status.js';
import { readProxy, type ProxyResult } from './proxy.js';

// The few WebAssembly types used here; @types/node 20 has none, and a local
// declaration keeps the DOM lib out of the build.
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
};

interface CoreExports {
  memory: WasmMemory;
  ctrl(): number;
  reserve_input(n: number): number;
  feed(conn: number, n: number): number;
  conn_open(): number;
  conn_close(conn: number): void;
  conn_buffered(conn: number): number;
  settings_scratch(n: number): number;
  setting_set(keyLen: number, tag: number, num: number, valLen: number): number;
  setting_find(keyLen: number): number;
  setting_count(): number;
  setting_read(i: number): number;
  setting_key(i: number): void;
  setting_allowed(i: number): void;
  settings_serialize(): number;
  settings_load(len: number): number;
  settings_reset(): void;
}

/** Raised when the core aborts: a bug in the core, never bad input. */
export class CoreAbort extends Error {
  readonly code = 'ERR_CORE_ABORT';
}

function wasmUrl(): URL {
  // build/src/core.js finds ../core.wasm; src/core.ts (tests) finds ../build/core.wasm.
  for (const rel of ['../core.wasm', '../build/core.wasm']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return url;
  }
  throw new Error('tcp-prefork: build/core.wasm is missing; run `npm run build`');
}

let compiled: object | undefined;

// Node's own Buffer subclass: `new FastBuffer(ab, off, len)` is a plain typed
// array construction, without subarray's species lookup and argument coercion.
// Node defines Buffer[Symbol.species] as FastBuffer; should that ever change,
// fall back to subarray.
type BufferCtor = new (ab: ArrayBufferLike, off: number, len: number) => Buffer;
const species = (Buffer as unknown as { [Symbol.species]?: BufferCtor })[Symbol.species];
const FastBuffer: BufferCtor | null = typeof species === 'function' && species !== (Buffer as unknown) ? species : null;

export class Core {
  readonly exports: CoreExports;
  readonly memory: WasmMemory;
  #buffer!: ArrayBuffer;
  u8!: Uint8Array;
  i32!: Int32Array;
  f64!: Float64Array;
  readonly #ctrl: number;
  #inPtr = 0;
  #inCap = 0;
  #chunk: Uint8Array | null = null;
  #chunkAb: ArrayBufferLike | null = null;
  #chunkOff = 0;

  /** Error status of the last feed (S.OK when none). */
  error = 0;
  /** (offset, length, flags) triples of the last feed, copied out of linear memory. */
  frames = new Int32Array(3 * 256);
  /** The frame of the last feed that began in an earlier chunk, copied. */
  span: Buffer | null = null;

  constructor() {
    compiled ??= new WebAssembly.Module(readFileSync(wasmUrl()));
    const instance = new WebAssembly.Instance(compiled, {
      env: {
        abort(_msg: number, _file: number, line: number, col: number) {
          throw new CoreAbort(`tcp-prefork core aborted at ${line}:${col}`);
        },
      },
    });
    this.exports = instance.exports as unknown as CoreExports;
    this.memory = this.exports.memory;
    this.#ctrl = this.exports.ctrl() >> 2;
    this.#refresh();
    this.#inPtr = this.exports.reserve_input(65536);
    this.#inCap = 65536;
    this.#refresh();
  }

  #refresh(): void {
    this.#buffer = this.memory.buffer;
    this.u8 = new Uint8Array(this.#buffer);
    this.i32 = new Int32Array(this.#buffer);
    this.f64 = new Float64Array(this.#buffer);
  }

  /** Re-derives the views if linear memory grew. Call after any export that may allocate. */
  views(): void {
    if (this.u8.length === 0 || this.memory.buffer !== this.#buffer) this.#refresh();
  }

  ctrl(slot: number): number {
    return this.i32[this.#ctrl + slot];
  }

  ctrlNum(): number {
    return this.f64[(this.#ctrl + S.CTRL_NUM) >> 1];
  }

  /** Opens a connection's framing state with the current settings. */
  open(): number {
    const conn = this.exports.conn_open();
    this.views();
    return conn;
  }

  close(conn: number): void {
    this.exports.conn_close(conn);
  }

  /** Bytes held for the connection's unfinished frame. */
  buffered(conn: number): number {
    return this.exports.conn_buffered(conn);
  }

  /**
   * Frames one chunk: one copy in, one call. Returns the number of frames;
   * read them with `message(chunk, i)`. `error` is non-zero when the chunk
   * held bad input after those frames; the connection must then be closed.
   */
  feed(conn: number, chunk: Uint8Array): number {
    const n = chunk.length;
    if (n > this.#inCap) {
      this.#inPtr = this.exports.reserve_input(n);
      this.#refresh();
      this.#inCap = this.i32[this.#ctrl + S.CTRL_IN_CAP];
    } else if (this.u8.length === 0) {
      // memory.grow detached the old buffer: its views read as empty.
      this.#refresh();
    }
    this.u8.set(chunk, this.#inPtr);
    const count = this.exports.feed(conn, n);
    if (this.u8.length === 0) this.#refresh();
    const i32 = this.i32;
    const c = this.#ctrl;
    this.error = i32[c + S.CTRL_ERR];
    if (count > 0) {
      const words = count * 3;
      if (this.frames.length < words) this.frames = new Int32Array(Math.max(words, this.frames.length * 2));
      const frames = this.frames;
      const out = i32[c + S.CTRL_OUT_PTR] >> 2;
      // A plain loop: cheaper than a subarray view for the usual handful of frames.
      for (let k = 0; k < words; k++) frames[k] = i32[out + k];
      if (frames[0] < 0) {
        const ptr = i32[c + S.CTRL_SPAN_PTR];
        this.span = Buffer.from(this.u8.subarray(ptr, ptr + frames[1]));
      }
    }
    return count;
  }

  /** Frame i of the last feed, as bytes the caller may keep. */
  message(chunk: Buffer, i: number): Buffer {
    const frames = this.frames;
    const start = frames[3 * i];
    if (start < 0) return this.span!;
    const len = frames[3 * i + 1];
    if (start === 0 && len === chunk.length) return chunk;
    if (FastBuffer === null) return chunk.subarray(start, start + len);
    if (chunk !== this.#chunk) {
      this.#chunk = chunk;
      this.#chunkAb = chunk.buffer;
      this.#chunkOff = chunk.byteOffset;
    }
    return new FastBuffer(this.#chunkAb!, this.#chunkOff + start, len);
  }

  /** The PROXY header the last feed completed (kind PK_NONE while none has). */
  proxy(): ProxyResult {
    return readProxy(this.i32, this.u8, this.#ctrl);
  }

  /** Flags (S.FLAG_*) of frame i of the last feed. */
  flags(i: number): number {
    return this.frames[3 * i + 2];
  }

  /** Copies bytes into the core's scratch area at `offset`; returns the end offset. */
  scratch(bytes: Uint8Array, offset: number): number {
    const ptr = this.exports.settings_scratch(offset + bytes.length);
    this.views();
    this.u8.set(bytes, ptr + offset);
    return offset + bytes.length;
  }

  /** Copies `len` bytes at `ptr` out of linear memory. */
  bytes(ptr: number, len: number): Buffer {
    return Buffer.from(this.u8.subarray(ptr, ptr + len));
  }
}

let shared: Core | undefined;

/** The process's one core instance. */
export function core(): Core {
  return (shared ??= new Core());
}
