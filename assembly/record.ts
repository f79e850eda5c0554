// A connection's record: 176 bytes of linear memory at the pointer `connOpen`
// returns (framing.ts), freed by `connClose`. Its first eight words are shared
// with the host (status.ts CONN_*); the rest is the core's own, read and
// written by the framing loop (framing.ts) and by the per-protocol steps
// (frame_eof.ts, frame_length.ts, frame_http.ts). Also here: what those steps
// return to the loop, and the buffer a record keeps an HTTP head or a PROXY
// header in until it is whole.
import {
  CONN_COPY,
  CONN_SKIP,
  CONN_HAVE,
  CONN_AT,
  CONN_LEN,
  CONN_STRIDE,
  CONN_SLOT,
  CTRL_HELD,
  MAX_MEMORY_PAGES,
  MEMORY_HEADROOM_PAGES,
} from './status';
import { ctrlSet } from './memory';

// Connection record layout (byte offsets). The first eight words are shared
// with the host (status.ts CONN_*).
export const C_MODE: usize = 0;
export const C_COPY: usize = (<usize>CONN_COPY) << 2; // copy a chunk this long whole
export const C_SKIP: usize = (<usize>CONN_SKIP) << 2; // a shorter chunk only continues the frame
export const C_HAVE: usize = (<usize>CONN_HAVE) << 2; // bytes of the unfinished frame in earlier chunks (the host holds them)
export const C_AT: usize = (<usize>CONN_AT) << 2; // the plan: what the next chunk needs first
export const C_LEN: usize = (<usize>CONN_LEN) << 2;
export const C_STRIDE: usize = (<usize>CONN_STRIDE) << 2;
export const C_SLOT: usize = (<usize>CONN_SLOT) << 2; // the host's
export const C_EOF: usize = 32; // u64, pattern bytes little-endian
export const C_EOF_LEN: usize = 40;
export const C_LTYPE: usize = 44; // pack code of the length field, as a char code
export const C_LOFF: usize = 48; // package_length_offset
export const C_BOFF: usize = 52; // package_body_offset
export const C_MAX: usize = 56; // package_max_length
export const C_HSIZE: usize = 60; // length mode: bytes up to the end of the length field
export const C_NEED: usize = 64; // the frame's total length, once known
export const C_PHASE: usize = 68;
export const C_FLAGS: usize = 72;
export const C_ERR: usize = 76; // sticky error
export const C_CHUNK: usize = 80; // chunked-body machine: state i32, trailer-name matcher i32, size i64
export const C_PROXY: usize = 96; // 1 while a PROXY protocol header is awaited
export const C_LAST: usize = 100; // length of the last complete frame (sizes the windows)
export const C_PREV: usize = 104; // and of the one before (equal: frames of one size, predict strides)
export const C_BUF: usize = 108; // the HTTP head or PROXY header so far
export const C_CAP: usize = 112;
export const C_BLEN: usize = 116;
export const C_TLEN: usize = 120;
export const C_TAIL: usize = 124; // 8 bytes: eof, the frame's last bytes; length, the length field
export const C_REASON: usize = 132; // with C_ERR: REASON_*
export const C_ERRAT: usize = 136; // with C_ERR: the offending byte, counted from the end of the last chunk fed
// The HTTP head parser's state while a head is unfinished (http.ts parseHead):
// bytes parsed (0: none yet), its state, the current line's start, a
// per-state word, what the head said so far, and its Content-Length (those
// two and where the value starts: http_fields.ts).
export const C_HPOS: usize = 140;
export const C_HSTATE: usize = 144;
export const C_HLINE: usize = 148;
export const C_HAUX: usize = 152;
export const C_HBITS: usize = 156;
export const C_HCLAT: usize = 160;
export const C_HCL: usize = 168; // i64
export const CONN_SIZE: usize = 176;

// Phases of the current frame (C_PHASE).
export const PH_HEAD: i32 = 0; // length unknown: searching a delimiter, or the header is short
export const PH_BODY: i32 = 1; // total length known (C_NEED)
export const PH_CHUNKED: i32 = 2; // HTTP chunked body in progress
export const PH_RAW: i32 = 3; // after an HTTP upgrade: each chunk's rest is a FLAG_RAW frame
export const PH_CLOSED: i32 = 4; // after an HTTP request with FLAG_CLOSE: bytes are ignored

// Results of the per-mode steps; a positive result is a whole frame's length.
export const MORE: i32 = -1; // the frame goes on past the chunk
export const FAIL: i32 = -2; // C_ERR is set
export const NEED: i32 = -3; // stopped for bytes; CTRL_NEED_* are set

// @ts-expect-error: decorator
@inline export function get(c: usize, f: usize): i32 {
  return load<i32>(c + f);
}
// @ts-expect-error: decorator
@inline export function put(c: usize, f: usize, v: i32): void {
  store<i32>(c + f, v);
}

/**
 * Makes the connection's error sticky (C_ERR), with its reason and the
 * offending byte's offset `at` in the chunk being fed, and returns FAIL, for a
 * step to return.
 */
export function fail(c: usize, code: i32, reason: i32, at: i32, n: i32): i32 {
  put(c, C_ERR, code);
  put(c, C_REASON, reason);
  put(c, C_ERRAT, at - n);
  return FAIL;
}

// A head buffer this large is freed once the head is parsed.
const KEEP_CAP: i32 = 65536;
// The largest block the allocator gives (TLSF's BLOCK_MAXSIZE: 1 GiB less its
// overhead); a larger request aborts the instance.
const BLOCK_MAX: i32 = 1073741820;

// The largest block the allocator gives (TLSF's BLOCK_MAXSIZE: 1 GiB less its header).
const MAX_BLOCK: i32 = (1 << 30) - 16;

// Pages linear memory may grow to for connection buffers (tests lower it).
let memoryLimit: i32 = MAX_MEMORY_PAGES;
// Bytes of every connection's buffer (their capacities), mirrored in CTRL_HELD.
let held: i32 = 0;

/** For tests: connection buffers may grow linear memory to `pages` at most (0: WASM32's 4 GiB). */
export function setMemoryLimit(pages: i32): void {
  memoryLimit = pages <= 0 || pages > MAX_MEMORY_PAGES ? MAX_MEMORY_PAGES : pages;
}

/**
 * Whether a block of `size` bytes can be had without taking linear memory
 * past the limit. The allocator traps (`unreachable`) when memory cannot
 * grow, which would end the worker; asked first, the answer costs one
 * connection instead. It counts the pages the block would need as if none
 * were free, so it may refuse a little early, never late.
 */
function canAlloc(size: i32): bool {
  const pages = <i64>((<u32>size + 0x1ffff) >>> 16);
  return <i64>memory.size() + pages + MEMORY_HEADROOM_PAGES <= <i64>memoryLimit;
}

function setHeld(delta: i32): void {
  held += delta;
  ctrlSet(CTRL_HELD, held);
}

/**
 * Writes [src, src+k) into the connection's buffer at `at`; it then holds
 * at+k bytes. Returns false, writing nothing, when the buffer cannot grow
 * (the caller fails the connection with ERR_OUT_OF_MEMORY).
 */
export function bufPut(c: usize, at: i32, src: usize, k: i32): bool {
  const required = at + k;
  let buf = <usize>get(c, C_BUF);
  const cap = get(c, C_CAP);
  if (required > cap) {
    // Doubling, but never past the allocator's largest block (it aborts above that).
    if (required > MAX_BLOCK) return false;
    let wanted: i64 = cap < 256 ? 256 : <i64>cap * 2;
    if (wanted > <i64>MAX_BLOCK) wanted = MAX_BLOCK;
    let next = <i32>wanted;
    if (next < required) next = required;
    if (next > BLOCK_MAX) next = BLOCK_MAX; // a head past 512 MiB: its last doubling
    if (required > next || !canAlloc(next)) return false;
    buf = buf ? heap.realloc(buf, <usize>next) : heap.alloc(<usize>next);
    put(c, C_BUF, <i32>buf);
    put(c, C_CAP, next);
    setHeld(next - cap);
  }
  memory.copy(buf + <usize>at, src, <usize>k);
  put(c, C_BLEN, required);
  return true;
}

/** Empties the buffer, freeing it if one big head made it large. */
export function bufClear(c: usize): void {
  put(c, C_BLEN, 0);
  if (get(c, C_CAP) > KEEP_CAP) bufFree(c);
}

/** Frees the buffer (a connection closing). */
export function bufFree(c: usize): void {
  const buf = <usize>get(c, C_BUF);
  if (buf) heap.free(buf);
  setHeld(-get(c, C_CAP));
  put(c, C_BUF, 0);
  put(c, C_CAP, 0);
  put(c, C_BLEN, 0);
}
