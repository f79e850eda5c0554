// The WASM core binding: one instance per process, created on first use.
// The hot path (`feed`) calls raw exports; views into linear memory are
// re-derived whenever `memory.grow` has replaced the buffer, and user code is
// only ever given bytes it may keep.
//
// The core finds boundaries; the bytes stay here (see assembly/framing.ts).
// A chunk is copied into the core's input area only as far as the core must
// read it: whole when short, for eof, or among small frames; otherwise the
// windows it plans or asks for (headers, heads, chunked bodies), at the same
// offsets as in the chunk. Frames inside the chunk are views of it. The
// unfinished frame at a chunk's end stays here, as the chunk slices it lies
// in (per connection, in the slot its record names); the chunk that
// completes it comes back as a triple at offset -k (k: the bytes held), and
// the frame is joined with one copy into `span`. A chunk that cannot complete
// a frame of known length is kept without calling the core.
import { existsSync, readFileSync } from 'node:fs';
import { instantiateSync } from '@assemblyscript/loader';
import * as S from '../assembly/status.js';
import { CoreAbort } from './errors.js';
import { Held } from './held.js';
import { readProxy, type ProxyResult } from './proxy.js';

// The hot path's constants as plain bindings (a namespace property load each time costs).
const { CONN_COPY, CONN_SKIP, CONN_HAVE, CONN_AT, CONN_LEN, CONN_STRIDE, CONN_SLOT } = S;
const { CTRL_ERR, CTRL_HOLD, CTRL_OUT_PTR, CTRL_NEED_AT, CTRL_NEED_LEN, CTRL_NEED_STRIDE, CTRL_HELD, MAX_WINDOWS } = S;

// The few WebAssembly types used here; @types/node 20 has none, and a local
// declaration keeps the DOM lib out of the build.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
};

interface CoreExports {
  memory: WasmMemory;
  ctrl(): number;
  reserve_input(n: number): number;
  feed(conn: number, n: number, valid: number): number;
  feed_more(conn: number, at: number, end: number): number;
  feed_words(conn: number, n: number, w0: number, w1: number, w2: number, w3: number): number;
  set_copy_limit(n: number): void;
  conn_open(store: number): number;
  conn_close(conn: number): void;
  conn_buffered(conn: number): number;
  conn_held(conn: number): number;
  conn_save(conn: number): number;
  conn_restore(n: number): number;
  set_memory_limit(pages: number): void;
  store_new(): number;
  store_free(store: number): void;
  settings_scratch(n: number): number;
  setting_set(store: number, keyLen: number, tag: number, num: number, valLen: number): number;
  setting_find(store: number, keyLen: number): number;
  setting_count(store: number): number;
  setting_read(store: number, i: number): number;
  setting_key(store: number, i: number): number;
  settings_serialize(store: number): number;
  settings_load(store: number, len: number): number;
  settings_reset(store: number): void;
  schema_count(): number;
  schema_name(i: number): number;
  schema_allowed(i: number): number;
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

/**
 * The core's answer to one chunk, as the connection table reads it: how many
 * frames, each as bytes the caller may keep with its flags, whether the chunk
 * ended inside a frame, and the error that ends the connection after those
 * frames. One object, reused for every chunk: read it before the next feed.
 */
export class Frames {
  /** Frames in the chunk. */
  count = 0;
  /** S.OK, or the framing status that fails the connection after the frames before it. */
  error = 0;
  /** The chunk ended inside a frame: its bytes are held for the next chunk. */
  unfinished = false;
  readonly #core: Core;
  #chunk: Buffer = EMPTY;

  constructor(core: Core) {
    this.#core = core;
  }

  /** @internal */
  set(chunk: Buffer, count: number, error: number, unfinished: boolean): this {
    this.#chunk = chunk;
    this.count = count;
    this.error = error;
    this.unfinished = unfinished;
    return this;
  }

  /** Frame i, as bytes the caller may keep (a view of the chunk, or a copy of a frame begun earlier). */
  message(i: number): Buffer {
    return this.#core.message(this.#chunk, i);
  }

  /** Frame i's S.FLAG_* bits. */
  flags(i: number): number {
    return this.#core.flags(i);
  }

  /** With `error`: why (S.REASON_*). */
  reason(): number {
    return this.#core.reason();
  }

  /** With `error`: the offending byte's offset in this chunk (negative: that many bytes before it). */
  errorAt(): number {
    return this.#core.errorAt();
  }
}

const EMPTY = Buffer.alloc(0);

export class Core {
  readonly exports: CoreExports;
  /** The loader's reader of an AssemblyScript string (a static one: the core allocates no managed objects). */
  readonly #getString: (ptr: number) => string;
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
  // The hot exports, held directly: a stable call target for the JIT.
  readonly #feed: CoreExports['feed'];
  readonly #feedMore: CoreExports['feed_more'];
  readonly #feedWords: CoreExports['feed_words'];
  /** Each connection's unfinished frame, at the slot its record names (CONN_SLOT). */
  readonly #held: Held[] = [];
  readonly #freeSlots: number[] = [];
  /** Memory held here for unfinished frames, over every connection (what the Held records pin). */
  #heldBytes = 0;

  /** Error status of the last feed (S.OK when none). */
  error = 0;
  /** The record (conn >> 2) whose last feed completed a head expecting 100-continue (-1: none). */
  #continueRec = -1;
  /** (offset, length, flags) triples of the last feed, copied out of linear memory. */
  frames = new Int32Array(3 * 256);
  /** The frame of the last feed that began in an earlier chunk, copied. */
  span: Buffer | null = null;
  /** The last feed ended inside a frame. */
  #unfinished = false;
  readonly #frames = new Frames(this);

  constructor() {
    compiled ??= new WebAssembly.Module(readFileSync(wasmUrl()));
    // The loader instantiates (cold path): it gives __getString for the core's
    // static strings, here for the abort's message and file. The hot path calls
    // the raw exports of `instance`, not the loader's wrappers.
    let getString: ((ptr: number) => string) | null = null;
    const text = (ptr: number) => {
      if (getString === null || ptr === 0) return '';
      try {
        return getString(ptr);
      } catch {
        return `<string at ${ptr}>`;
      }
    };
    const { instance, exports: util } = instantiateSync<Record<string, unknown>>(compiled as never, {
      env: {
        abort(msg: number, file: number, line: number, column: number) {
          throw new CoreAbort(text(msg), text(file), line, column);
        },
      },
    });
    getString = util.__getString;
    this.#getString = util.__getString;
    this.exports = instance.exports as unknown as CoreExports;
    this.memory = this.exports.memory;
    this.#feed = this.exports.feed;
    this.#feedMore = this.exports.feed_more;
    this.#feedWords = this.exports.feed_words;
    this.#ctrl = this.exports.ctrl() >> 2;
    this.#refresh();
    this.#inPtr = this.exports.reserve_input(S.INPUT_AREA_MIN);
    this.#inCap = S.INPUT_AREA_MIN;
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

  /** Opens a connection's framing state with the settings of `store` (a Settings' `store`) as they are now. */
  open(store: number): number {
    const conn = this.exports.conn_open(store);
    this.views();
    this.#attach(conn);
    return conn;
  }

  /** Gives a new record a slot for the bytes held here. Returns the slot's record. */
  #attach(conn: number): Held {
    let slot = this.#freeSlots.pop();
    if (slot === undefined) {
      slot = this.#held.length;
      this.#held.push(new Held());
    }
    const h = this.#held[slot];
    h.conn = conn;
    this.i32[(conn >> 2) + CONN_SLOT] = slot;
    return h;
  }

  /**
   * The connection's framing state as bytes another worker's core can take
   * (`restore`), for reload_handover: the core's record and buffer, then the
   * bytes of its unfinished frame held here.
   */
  save(conn: number): Buffer {
    const n = this.exports.conn_save(conn);
    const ptr = this.exports.settings_scratch(0);
    this.views();
    const h = this.#held[this.i32[(conn >> 2) + CONN_SLOT]];
    const held = h !== undefined && h.conn === conn && h.bytes > 0 ? h.join(EMPTY, 0) : EMPTY;
    const out = Buffer.allocUnsafe(4 + n + held.length);
    out.writeUInt32LE(n, 0);
    out.set(this.u8.subarray(ptr, ptr + n), 4);
    out.set(held, 4 + n);
    return out;
  }

  /** A connection from a state `save` made (in this or another process). Returns its record, or 0 when this core cannot take it. */
  restore(state: Uint8Array): number {
    if (state.length < 4) return 0;
    const n = state[0] | (state[1] << 8) | (state[2] << 16) | (state[3] << 24);
    if (n <= 0 || 4 + n > state.length) return 0;
    this.scratch(state.subarray(4, 4 + n), 0);
    const conn = this.exports.conn_restore(n);
    this.views();
    if (conn === 0) return 0;
    const held = state.subarray(4 + n);
    if (this.exports.conn_buffered(conn) !== held.length) {
      this.exports.conn_close(conn);
      return 0;
    }
    const h = this.#attach(conn);
    if (held.length > 0) this.#heldBytes += h.add(Buffer.from(held), 0);
    return conn;
  }

  close(conn: number): void {
    this.views();
    const slot = this.i32[(conn >> 2) + CONN_SLOT];
    const h = this.#held[slot];
    // Only the slot's own connection frees it: a second close must not hand it to two connections.
    if (h !== undefined && h.conn === conn) {
      this.#heldBytes -= h.release();
      h.conn = 0;
      this.#freeSlots.push(slot);
    }
    this.exports.conn_close(conn);
  }

  /**
   * For tests: chunks longer than `n` bytes (on connections opened from now
   * on) are fed through windows instead of being copied whole. Infinity: the
   * core's own policy.
   */
  copyLimit(n: number): void {
    this.exports.set_copy_limit(Math.min(n, 0x7fffffff));
  }

  /** Bytes held for the connection's unfinished frame. */
  buffered(conn: number): number {
    this.views();
    const h = this.#held[this.i32[(conn >> 2) + CONN_SLOT]];
    return h !== undefined && h.conn === conn ? h.bytes : 0;
  }

  /** Bytes of memory the connection's unfinished input takes: held here, and in the core's own buffer. */
  holding(conn: number): number {
    this.views();
    const h = this.#held[this.i32[(conn >> 2) + CONN_SLOT]];
    return (h !== undefined && h.conn === conn ? h.cost : 0) + this.exports.conn_held(conn);
  }

  /** Bytes of memory unfinished input takes over every connection: held here, and in the core's buffers. */
  heldTotal(): number {
    let i32 = this.i32;
    if (i32.length === 0) {
      this.#refresh();
      i32 = this.i32;
    }
    return this.#heldBytes + i32[this.#ctrl + CTRL_HELD];
  }

  /** For tests: the core's buffers may grow linear memory to `pages` (64 KiB each) at most; 0 restores 4 GiB. */
  memoryLimit(pages: number): void {
    this.exports.set_memory_limit(pages);
  }

  /**
   * Frames one chunk. Returns the number of frames; read them with
   * `message(chunk, i)`. `error` is non-zero when the chunk held bad input
   * after those frames; the connection must then be closed.
   *
   * One call for a chunk of up to CONN_COPY bytes (copied whole; up to 16
   * bytes passed as arguments instead); a longer one gets the record's plan
   * copied, then as many calls as the core asks for windows (usually none);
   * a chunk shorter than CONN_SKIP gets no call at all.
   */
  feed(conn: number, chunk: Uint8Array): number {
    const n = chunk.length;
    const i32 = this.i32;
    const rec = conn >> 2;
    // The fast path: up to 16 bytes, copied whole, not skipped (a detached view reads undefined: not taken).
    if (n <= 16 && n <= i32[rec + CONN_COPY] && n >= i32[rec + CONN_SKIP]) {
      const r = this.#tiny(conn, chunk, n);
      if (r === 1 && i32.length !== 0) {
        const out = i32[this.#ctrl + CTRL_OUT_PTR] >> 2;
        const frames = this.frames;
        frames[0] = i32[out];
        frames[1] = i32[out + 1];
        frames[2] = i32[out + 2];
        this.error = 0; // S.OK
        this.#unfinished = false;
        return 1;
      }
      return this.#after(chunk, n, r, rec);
    }
    return this.#feedChunk(conn, chunk, n);
  }

  /** Frames one chunk (see `feed`) and returns the answer as one typed result. */
  frame(conn: number, chunk: Buffer): Frames {
    const n = this.feed(conn, chunk);
    return this.#frames.set(chunk, n, this.error, this.#unfinished);
  }

  /** Feeds a chunk of at most 16 bytes as four words: cheaper than any copy into the input area at this size. */
  #tiny(conn: number, chunk: Uint8Array, n: number): number {
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    if (n === 16) {
      w0 = chunk[0] | (chunk[1] << 8) | (chunk[2] << 16) | (chunk[3] << 24);
      w1 = chunk[4] | (chunk[5] << 8) | (chunk[6] << 16) | (chunk[7] << 24);
      w2 = chunk[8] | (chunk[9] << 8) | (chunk[10] << 16) | (chunk[11] << 24);
      w3 = chunk[12] | (chunk[13] << 8) | (chunk[14] << 16) | (chunk[15] << 24);
    } else {
      for (let k = 0; k < n; k++) {
        const b = chunk[k] << ((k & 3) << 3);
        if (k < 4) w0 |= b;
        else if (k < 8) w1 |= b;
        else if (k < 12) w2 |= b;
        else w3 |= b;
      }
    }
    return this.#feedWords(conn, n, w0, w1, w2, w3);
  }

  /** `feed` for any chunk: the input area sized, a skip, a whole copy, or windows. */
  #feedChunk(conn: number, chunk: Uint8Array, n: number): number {
    let i32 = this.i32;
    if (n > this.#inCap || i32.length === 0) {
      this.#prepare(n);
      i32 = this.i32;
    }
    const rec = conn >> 2;
    if (n < i32[rec + CONN_SKIP]) return this.#skip(chunk, n, rec);
    let r: number;
    if (n <= i32[rec + CONN_COPY]) {
      if (n <= 16) {
        r = this.#tiny(conn, chunk, n);
      } else {
        this.u8.set(chunk, this.#inPtr);
        r = this.#feed(conn, n, n);
      }
    } else {
      r = this.#windows(conn, chunk, n, rec);
    }
    return this.#after(chunk, n, r, rec);
  }

  /**
   * After the calls for a chunk: r >= 0 means r frames and nothing else to
   * do; otherwise ~r frames, and an error, an unfinished frame to keep, or a
   * spanning frame to join.
   */
  #after(chunk: Uint8Array, n: number, r: number, rec: number): number {
    let i32 = this.i32;
    if (i32.length === 0) {
      // memory.grow detached the old buffer: its views read as empty.
      this.#refresh();
      i32 = this.i32;
    }
    const count = r >= 0 ? r : ~r;
    if (count > 0) {
      const words = count * 3;
      let frames = this.frames;
      if (frames.length < words) {
        frames = new Int32Array(Math.max(words, frames.length * 2));
        this.frames = frames;
      }
      const out = i32[this.#ctrl + CTRL_OUT_PTR] >> 2;
      // Plain stores, the first triple unrolled: cheaper than a subarray view for the usual handful of frames.
      frames[0] = i32[out];
      frames[1] = i32[out + 1];
      frames[2] = i32[out + 2];
      for (let k = 3; k < words; k++) frames[k] = i32[out + k];
    }
    if (r >= 0) {
      this.error = 0; // S.OK
      this.#unfinished = false;
      return r;
    }
    const error = i32[this.#ctrl + CTRL_ERR];
    this.error = error;
    this.#unfinished = error === 0 && i32[this.#ctrl + CTRL_HOLD] < n;
    // only this slow path can complete such a head: its body is still to come
    this.#continueRec = i32[this.#ctrl + S.CTRL_CONTINUE] !== 0 ? rec : -1;
    this.#keep(this.#held[i32[rec + CONN_SLOT]], chunk, n, count, i32[this.#ctrl + CTRL_HOLD], error);
    return count;
  }

  /** A chunk that only continues a frame of known length: kept, without a call. */
  #skip(chunk: Uint8Array, n: number, rec: number): number {
    const i32 = this.i32;
    i32[rec + CONN_SKIP] -= n;
    i32[rec + CONN_AT] -= n;
    i32[rec + CONN_HAVE] += n;
    this.#heldBytes += this.#held[i32[rec + CONN_SLOT]].add(chunk, 0);
    this.error = S.OK;
    this.#unfinished = true;
    return 0;
  }

  /** Makes the input area hold n bytes, and the views current. */
  #prepare(n: number): void {
    if (n > this.#inCap) {
      this.#inPtr = this.exports.reserve_input(n);
      this.#refresh();
      this.#inCap = this.i32[this.#ctrl + S.CTRL_IN_CAP];
    } else {
      this.#refresh();
    }
  }

  /**
   * Copies chunk bytes [at, at+len) into the input area at the same offsets,
   * and again every `stride` bytes after (stride 0: once), while inside the
   * chunk and for at most MAX_WINDOWS windows. Returns the first window's end.
   */
  #copy(chunk: Uint8Array, n: number, at: number, len: number, stride: number): number {
    const u8 = this.u8;
    const base = this.#inPtr;
    let first = 0;
    for (let k = 0; k < MAX_WINDOWS && at < n; k++) {
      let end = at + len;
      if (end > n) end = n;
      if (k === 0) first = end;
      const m = end - at;
      const p = base + at;
      // Headers are mostly 2 or 4 bytes: unrolled, those cost half as much as the loop.
      if (m === 4) {
        u8[p] = chunk[at];
        u8[p + 1] = chunk[at + 1];
        u8[p + 2] = chunk[at + 2];
        u8[p + 3] = chunk[at + 3];
      } else if (m === 2) {
        u8[p] = chunk[at];
        u8[p + 1] = chunk[at + 1];
      } else if (m <= 32) {
        for (let i = 0; i < m; i++) u8[p + i] = chunk[at + i];
      } else {
        u8.set(new Uint8Array(chunk.buffer, chunk.byteOffset + at, m), p);
      }
      if (stride <= 0) break;
      at += stride;
    }
    return first;
  }

  /**
   * Feeds a chunk window by window: first the plan the core left in the
   * record, then whatever it asks for. Returns as `feed` does.
   */
  #windows(conn: number, chunk: Uint8Array, n: number, rec: number): number {
    const c = this.#ctrl;
    let i32 = this.i32;
    const at = i32[rec + CONN_AT];
    if (at >= 0 && at < n) this.#copy(chunk, n, at, i32[rec + CONN_LEN], i32[rec + CONN_STRIDE]);
    let r = this.#feed(conn, n, 0);
    while (r < 0) {
      i32 = this.i32;
      if (i32.length === 0) {
        this.#refresh();
        i32 = this.i32;
      }
      const need = i32[c + CTRL_NEED_AT];
      if (need < 0) break;
      const end = this.#copy(chunk, n, need, i32[c + CTRL_NEED_LEN], i32[c + CTRL_NEED_STRIDE]);
      r = this.#feedMore(conn, need, end);
    }
    return r;
  }

  /** Moves the unfinished frame's bytes: joins the spanning frame, keeps the new unfinished one. */
  #keep(h: Held, chunk: Uint8Array, n: number, count: number, hold: number, error: number): void {
    if (count > 0 && this.frames[0] < 0) {
      const k = -this.frames[0];
      if (h.bytes !== k) throw new CoreAbort(`a frame began ${k} bytes back, ${h.bytes} are held`);
      this.span = h.join(chunk, this.frames[1] - k);
      this.#heldBytes -= h.release();
    }
    if (error !== 0 || hold >= n) {
      // nothing unfinished (a PROXY header in progress is the core's)
      if (h.bytes !== 0) this.#heldBytes -= h.release();
      return;
    }
    if (hold < 0) {
      if (h.bytes !== -hold) throw new CoreAbort(`a frame goes on from ${-hold} bytes back, ${h.bytes} are held`);
      this.#heldBytes += h.add(chunk, 0);
      return;
    }
    if (h.bytes !== 0) throw new CoreAbort(`${h.bytes} held bytes were dropped`);
    this.#heldBytes += h.add(chunk, hold);
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

  /** After a feed with `error` set: why (S.REASON_*; src/errors.ts has the text). */
  reason(): number {
    return this.i32[this.#ctrl + S.CTRL_REASON];
  }

  /**
   * After a feed with `error` set: the offending byte's offset in the chunk
   * just fed (negative: that many bytes before it; the chunk's length: a
   * limit crossed by the byte after it).
   */
  errorAt(): number {
    return this.i32[this.#ctrl + S.CTRL_ERR_AT];
  }

  /**
   * True once when the last feed for `conn` completed the head of an HTTP/1.1
   * request with `Expect: 100-continue` and left its body unstarted: the host
   * answers `HTTP/1.1 100 Continue`. Ask right after that feed: the answer
   * is cleared on reading, and by any later feed that needs more than its
   * frame count (an unfinished or spanning frame, or an error).
   */
  expectsContinue(conn: number): boolean {
    if (this.#continueRec !== conn >> 2) return false;
    this.#continueRec = -1;
    return true;
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

  /** Reads a static string of the core (AssemblyScript's UTF-16 layout) with the loader's __getString. */
  string(ptr: number): string {
    return this.#getString(ptr);
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
