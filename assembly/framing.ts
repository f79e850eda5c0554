// Per-connection message framing: one state machine per connection, fed one
// socket chunk per `feed` call. A connection's state is a 136-byte record in
// linear memory, whose first eight words the host reads too (status.ts CONN_*).
//
// The core finds boundaries; the host keeps the bytes (as undici's llhttp
// binding does).
//
// Windows. The input area mirrors chunk offsets: chunk byte k lives at
// inputPtr()+k, but only the windows the host has copied there are valid.
// `feed(c, n, valid)` starts a chunk of n bytes: valid == n when the host
// copied it whole (a chunk no longer than the record's CONN_COPY word: short
// chunks, every eof chunk, streams of small frames), else 0, and then the
// host has copied the record's plan (CONN_AT/LEN/STRIDE: the next header,
// and where the following ones will be if frames keep their size). When the
// core needs bytes it does not have, it stops, writes CTRL_NEED_AT (a chunk
// offset), CTRL_NEED_LEN (how many it would like, at least what it needs) and
// CTRL_NEED_STRIDE (0, or: the same again every stride bytes, up to
// MAX_WINDOWS windows), and returns; the host copies them and calls
// `feed_more(c, at, end)`, [at, end) being the first window. CTRL_NEED_AT = -1
// ends the chunk. Triples accumulate in the output area across these calls.
// What is read: eof, every byte; length, the headers only; http, heads and
// chunked bodies, never a Content-Length body; raw, nothing. `feed_words`
// takes a chunk of up to 16 bytes as four i32 arguments instead.
//
// Frames are (offset, length, flags) triples. A frame wholly inside the chunk
// has its offset in the chunk, for a zero-copy view. A frame that began in an
// earlier chunk has offset -k, k being its bytes before this chunk, which the
// host holds; only the first triple of a chunk can be one. A call returns the
// frame count when that is all the host needs to know, else ~count: then
// CTRL_HOLD says where the unfinished frame starts in the chunk (n: none;
// negative: the whole chunk continues the earlier one), so the host keeps
// that slice, and CTRL_ERR holds any error. The core keeps only what it must
// parse: the bytes of a length field until the length is known, an HTTP head
// until its CRLF CRLF (parseHead wants it contiguous), the last
// delimiter-length-1 bytes of an eof frame (for a delimiter across chunks),
// the PROXY header until complete; and the unfinished frame's byte count
// (CONN_HAVE), for the package_max_length checks. When that frame's length is
// known, CONN_SKIP says how many bytes it still lacks: the host keeps a
// shorter chunk without calling the core at all.
import {
  OK, ERR_FRAME_TOO_LARGE, ERR_BAD_LENGTH, ERR_BAD_HTTP, ERR_BAD_PROXY_HEADER,
  PROTO_EOF, PROTO_LENGTH, PROTO_HTTP,
  CTRL_ERR, CTRL_NEED_AT, CTRL_NEED_LEN, CTRL_NEED_STRIDE, CTRL_HOLD, MAX_WINDOWS,
  CONN_COPY, CONN_SKIP, CONN_HAVE, CONN_AT, CONN_LEN, CONN_STRIDE, CONN_SLOT,
} from "./status";
import { ctrlSet, inputPtr, outputFits, outputPtr, reserveOutput, findPattern, findPattern2, findPattern4, findStraddle } from "./memory";
import { requestPrefixOk, parseHead, runChunked, headFlags, headChunked, headLength,
  HEAD_BAD, CHUNK_MORE, CHUNK_BAD } from "./http";
import { cfgProtocol, cfgEof, cfgEofLen, cfgLengthType, cfgLengthOffset, cfgBodyOffset, cfgMaxLength, cfgProxy } from "./settings";
import { proxyHeader, proxyClear, PROXY_MORE } from "./proxy";

// Connection record layout (byte offsets). The first eight words are shared
// with the host (status.ts CONN_*).
const C_MODE: usize = 0;
const C_COPY: usize = <usize>CONN_COPY << 2;     // copy a chunk this long whole
const C_SKIP: usize = <usize>CONN_SKIP << 2;     // a shorter chunk only continues the frame
const C_HAVE: usize = <usize>CONN_HAVE << 2;     // bytes of the unfinished frame in earlier chunks (the host holds them)
const C_AT: usize = <usize>CONN_AT << 2;         // the plan: what the next chunk needs first
const C_LEN: usize = <usize>CONN_LEN << 2;
const C_STRIDE: usize = <usize>CONN_STRIDE << 2;
const C_SLOT: usize = <usize>CONN_SLOT << 2;     // the host's
const C_EOF: usize = 32;      // u64, pattern bytes little-endian
const C_EOF_LEN: usize = 40;
const C_LTYPE: usize = 44;    // pack code of the length field, as a char code
const C_LOFF: usize = 48;     // package_length_offset
const C_BOFF: usize = 52;     // package_body_offset
const C_MAX: usize = 56;      // package_max_length
const C_HSIZE: usize = 60;    // length mode: bytes up to the end of the length field
const C_NEED: usize = 64;     // the frame's total length, once known
const C_PHASE: usize = 68;
const C_FLAGS: usize = 72;
const C_ERR: usize = 76;      // sticky error
const C_CHUNK: usize = 80;    // chunked-body machine: state i32, pad, size i64
const C_PROXY: usize = 96;    // 1 while a PROXY protocol header is awaited
const C_LAST: usize = 100;    // length of the last complete frame (sizes the windows)
const C_PREV: usize = 104;    // and of the one before (equal: frames of one size, predict strides)
const C_BUF: usize = 108;     // the HTTP head or PROXY header so far
const C_CAP: usize = 112;
const C_BLEN: usize = 116;
const C_TLEN: usize = 120;
const C_TAIL: usize = 124;    // 8 bytes: eof, the frame's last bytes; length, the length field
const CONN_SIZE: usize = 136;

// Phases of the current frame.
const PH_HEAD: i32 = 0;       // length unknown: searching a delimiter, or the header is short
const PH_BODY: i32 = 1;       // total length known (C_NEED)
const PH_CHUNKED: i32 = 2;    // HTTP chunked body in progress

// Results of the per-mode steps; a positive result is a whole frame's length.
const MORE: i32 = -1;         // the frame goes on past the chunk
const FAIL: i32 = -2;         // C_ERR is set
const NEED: i32 = -3;         // stopped for bytes; CTRL_NEED_* are set

// Window sizes. A chunk up to SMALL_CHUNK bytes is always copied whole.
const ALL: i32 = 0x7fffffff;
const SMALL_CHUNK: i32 = 2048;
const SMALL_LENGTH_FRAME: i32 = 512;   // after frames this short, length mode copies whole chunks
const SMALL_HTTP_FRAME: i32 = 1024;    // likewise for http
const HEAD_WINDOW: i32 = 512;          // first look at an HTTP head after a big frame
const GROW: i32 = 4096;                // least extension of a window that was not enough

// The longest PROXY header proxy.ts accepts (v2: 16 bytes and 4096 of addresses/TLVs).
const PROXY_MAX: i32 = 16 + 4096;

// Caps every connection's CONN_COPY word (tests set it low to send every chunk through windows).
let copyCap: i32 = ALL;

/** From now on, chunks longer than `n` bytes are fed through windows (for tests; the default is no cap). */
export function setCopyLimit(n: i32): void {
  copyCap = n < 0 ? 0 : n;
}

// A head buffer this large is freed once the head is parsed.
const KEEP_CAP: i32 = 65536;

const CRLFCRLF: u64 = 0x0a0d0a0d;

// The chunk being fed: its length, the valid window [gLo, gHi), where the
// current frame starts (negative: -bytes before this chunk), progress inside
// it (HTTP head search, chunked body), and the output so far.
let gN: i32 = 0;
let gLo: i32 = 0;
let gHi: i32 = 0;
let gFs: i32 = 0;
let gCur: i32 = 0;
let gCount: i32 = 0;
let gOut: usize = 0;
let gSpan: bool = false;  // a frame that began in an earlier chunk was returned
// The strided windows of the last plan or strided ask (gSAt -1: none), and the last ask.
let gSAt: i32 = -1;
let gSLen: i32 = 0;
let gSStride: i32 = 0;
let gAskLen: i32 = 0;
let gAskStride: i32 = 0;

// @ts-ignore: decorator
@inline function get(c: usize, f: usize): i32 { return load<i32>(c + f); }
// @ts-ignore: decorator
@inline function put(c: usize, f: usize, v: i32): void { store<i32>(c + f, v); }

function fail(c: usize, code: i32): i32 {
  put(c, C_ERR, code);
  return FAIL;
}

/**
 * True when chunk offset `from` is in a window the host has copied; that
 * window becomes the current one, [gLo, gHi).
 */
// @ts-ignore: decorator
@inline function reach(from: i32): bool {
  return (from >= gLo && from < gHi) || reachPlanned(from);
}

/** reach() for an offset outside the current window: one of the strided windows? */
function reachPlanned(from: i32): bool {
  const base = gSAt;
  if (base < 0 || from < base) return false;
  let w = base;
  const stride = gSStride;
  if (stride > 0) {
    const k = (from - base) / stride;
    if (k >= MAX_WINDOWS) return false;
    w = base + k * stride;
  }
  let e = w + gSLen;
  if (e > gN) e = gN;
  if (from >= e) return false;
  gLo = w;
  gHi = e;
  return true;
}

/**
 * Asks the host for the chunk's bytes from `from` (`want` of them would do):
 * the part of them the window already holds is not asked again. With a
 * stride, the same bytes are asked at every stride after (predicted headers).
 */
function ask(from: i32, want: i32, stride: i32): i32 {
  let at = from;
  if (reach(from)) {
    at = gHi;
    stride = 0;
  }
  gAskLen = from + want - at;
  gAskStride = stride;
  ctrlSet(CTRL_NEED_AT, at);
  ctrlSet(CTRL_NEED_LEN, gAskLen);
  ctrlSet(CTRL_NEED_STRIDE, stride);
  return NEED;
}

/** The stride to predict windows of `len` bytes at: the frame length, when the last two were equal. */
function strideFor(c: usize, len: i32): i32 {
  const last = get(c, C_LAST);
  return last == get(c, C_PREV) && last >= len ? last : 0;
}

/** An extension for a window that was not enough: at least GROW, else doubling. */
function grow(): i32 {
  const w = gHi - gLo;
  return w > GROW ? w : GROW;
}

function fieldSize(t: i32): i32 {
  if (t == 0x63 || t == 0x43) return 1;                                // c C
  if (t == 0x73 || t == 0x53 || t == 0x6e || t == 0x76) return 2;      // s S n v
  return 4;                                                            // l L N V
}

// @ts-ignore: decorator
@inline function readLength(p: usize, t: i32): i64 {
  switch (t) {
    case 0x63: return <i64>load<i8>(p);                      // c
    case 0x43: return <i64>load<u8>(p);                      // C
    case 0x73: return <i64>load<i16>(p);                     // s (little-endian machine order)
    case 0x53: case 0x76: return <i64>load<u16>(p);          // S v
    case 0x6e: return <i64>bswap<u16>(load<u16>(p));         // n
    case 0x6c: return <i64>load<i32>(p);                     // l
    case 0x4e: return <i64>bswap<u32>(load<u32>(p));         // N
    default: return <i64>load<u32>(p);                       // L V
  }
}

/** Opens a connection with the current settings. Returns its record. */
export function connOpen(): usize {
  const c = heap.alloc(CONN_SIZE);
  memory.fill(c, 0, CONN_SIZE);
  const mode = cfgProtocol();
  put(c, C_MODE, mode);
  const windows = mode == PROTO_LENGTH || mode == PROTO_HTTP;
  const copy = windows ? SMALL_CHUNK : ALL;
  put(c, C_COPY, copy < copyCap ? copy : copyCap);
  put(c, C_AT, windows ? 0 : -1);
  put(c, C_LEN, mode == PROTO_LENGTH ? cfgLengthOffset() + fieldSize(cfgLengthType()) : HEAD_WINDOW);
  put(c, C_EOF_LEN, cfgEofLen());
  store<u64>(c + C_EOF, cfgEof());
  put(c, C_LTYPE, cfgLengthType());
  put(c, C_LOFF, cfgLengthOffset());
  put(c, C_BOFF, cfgBodyOffset());
  put(c, C_MAX, cfgMaxLength());
  put(c, C_HSIZE, cfgLengthOffset() + fieldSize(cfgLengthType()));
  put(c, C_PROXY, cfgProxy() ? 1 : 0);
  return c;
}

/** Frees a connection and its buffer. */
export function connClose(c: usize): void {
  const buf = <usize>get(c, C_BUF);
  if (buf) heap.free(buf);
  heap.free(c);
}

/** Bytes of the unfinished frame in earlier chunks (held by the host). */
export function connBuffered(c: usize): i32 {
  return get(c, C_HAVE);
}

/** Writes [src, src+k) into the connection's buffer at `at`; it then holds at+k bytes. */
function bufPut(c: usize, at: i32, src: usize, k: i32): void {
  const required = at + k;
  let buf = <usize>get(c, C_BUF);
  const cap = get(c, C_CAP);
  if (required > cap) {
    let next = cap < 256 ? 256 : cap * 2;
    if (next < required) next = required;
    buf = buf ? heap.realloc(buf, <usize>next) : heap.alloc(<usize>next);
    put(c, C_BUF, <i32>buf);
    put(c, C_CAP, next);
  }
  memory.copy(buf + <usize>at, src, <usize>k);
  put(c, C_BLEN, required);
}

/** Empties the buffer, freeing it if one big head made it large. */
function bufClear(c: usize): void {
  put(c, C_BLEN, 0);
  if (get(c, C_CAP) > KEEP_CAP) {
    heap.free(<usize>get(c, C_BUF));
    put(c, C_BUF, 0);
    put(c, C_CAP, 0);
  }
}

// ---------------------------------------------------------------- eof

/** Appends [p, p+k) to the eof tail, which keeps the frame's last len-1 bytes. */
function keepTail(c: usize, p: usize, k: i32, len: i32): void {
  const keep = len - 1;
  const t = c + C_TAIL;
  if (k >= keep) {
    memory.copy(t, p + <usize>(k - keep), <usize>keep);
    put(c, C_TLEN, keep);
    return;
  }
  let tl = get(c, C_TLEN);
  const drop = tl + k - keep;
  if (drop > 0) {
    memory.copy(t, t + <usize>drop, <usize>(tl - drop));
    tl -= drop;
  }
  memory.copy(t + <usize>tl, p, <usize>k);
  put(c, C_TLEN, tl + k);
}

function eofStep(c: usize): i32 {
  const n = gN;
  const fs = gFs;
  const s = fs > 0 ? fs : 0;
  if (!reach(s) || gHi < n) return ask(s, n - s, 0); // eof reads every byte
  const input = inputPtr();
  const pat = load<u64>(c + C_EOF);
  const len = get(c, C_EOF_LEN);
  const max = get(c, C_MAX);
  if (fs >= 0) {
    const p = input + <usize>fs;
    const rest = n - fs;
    const lim = rest < max ? rest : max;
    const q = findPattern(p, p + <usize>lim, pat, len);
    if (q) return <i32>(q - p) + len;
    if (rest >= max) return fail(c, ERR_FRAME_TOO_LARGE);
    put(c, C_TLEN, 0);
    keepTail(c, p, rest, len);
    return MORE;
  }
  const have = -fs;
  let e = findStraddle(c + C_TAIL, get(c, C_TLEN), 0, input, n, pat, len);
  if (e < 0) {
    const room = max - have;
    const lim = n < room ? n : (room > 0 ? room : 0);
    const q = findPattern(input, input + <usize>lim, pat, len);
    if (q) e = <i32>(q - input) + len;
  }
  if (e < 0) {
    if (<i64>have + <i64>n >= <i64>max) return fail(c, ERR_FRAME_TOO_LARGE);
    keepTail(c, input, n, len);
    return MORE;
  }
  if (have + e > max) return fail(c, ERR_FRAME_TOO_LARGE);
  return have + e;
}

// ---------------------------------------------------------------- length

/** Checks the length field at p; returns the frame's total length, or FAIL. */
function lengthOf(c: usize, p: usize): i32 {
  const len = readLength(p, get(c, C_LTYPE));
  if (len < 0) return fail(c, ERR_BAD_LENGTH);
  const total = <i64>get(c, C_BOFF) + len;
  if (total < <i64>get(c, C_HSIZE)) return fail(c, ERR_BAD_LENGTH);
  if (total > <i64>get(c, C_MAX)) return fail(c, ERR_FRAME_TOO_LARGE);
  return <i32>total;
}

/** Keeps the bytes of the length field among frame bytes [a, a+k), which lie at q. */
function capture(c: usize, q: usize, a: i32, k: i32): void {
  const loff = get(c, C_LOFF);
  const fend = get(c, C_HSIZE);
  let s = a > loff ? a : loff;
  const e = a + k < fend ? a + k : fend;
  for (; s < e; s++) store<u8>(c + C_TAIL + <usize>(s - loff), load<u8>(q + <usize>(s - a)));
}

/**
 * Asks for a header at `from`: the rest of the chunk after small frames, the
 * header (and the predicted next ones) after big frames.
 */
function lengthAsk(c: usize, from: i32, rest: i32, least: i32): i32 {
  const last = get(c, C_LAST);
  if (last <= SMALL_LENGTH_FRAME) return ask(from, rest > least ? rest : least, 0);
  const stride = strideFor(c, least);
  if (stride == 0 && last <= GROW) return ask(from, GROW > least ? GROW : least, 0);
  return ask(from, least, stride);
}

/**
 * Whole frames from gFs on, in locals, while each header is in a copied
 * window and the frame ends inside the chunk. Stops at anything else (an
 * unfinished or bad frame, a header not copied yet) for lengthStep to handle.
 */
function lengthRun(c: usize): void {
  const n = gN;
  const input = inputPtr();
  const hsize = get(c, C_HSIZE);
  const loff = <usize>get(c, C_LOFF);
  const ltype = get(c, C_LTYPE);
  const boff = <i64>get(c, C_BOFF);
  const max = <i64>get(c, C_MAX);
  let fs = gFs;
  let out = gOut;
  let count = gCount;
  let last = get(c, C_LAST);
  let prev = get(c, C_PREV);
  while (hsize <= n - fs && reach(fs) && fs + hsize <= gHi) {
    const len = readLength(input + <usize>fs + loff, ltype);
    const total = boff + len;
    if (len < 0 || total < <i64>hsize || total > max || total > <i64>(n - fs)) break;
    const r = <i32>total;
    store<i32>(out, fs);
    store<i32>(out, r, 4);
    store<i32>(out, 0, 8);
    out += 12;
    count++;
    prev = last;
    last = r;
    fs += r;
  }
  if (count != gCount) {
    gFs = gCur = fs;
    gOut = out;
    gCount = count;
    put(c, C_LAST, last);
    put(c, C_PREV, prev);
  }
}

function lengthStep(c: usize): i32 {
  const n = gN;
  const fs = gFs;
  const hsize = get(c, C_HSIZE);
  if (fs >= 0) {
    const rest = n - fs;
    if (hsize <= rest) {
      if (!reach(fs) || fs + hsize > gHi) return lengthAsk(c, fs, rest, hsize);
      const total = lengthOf(c, inputPtr() + <usize>(fs + get(c, C_LOFF)));
      if (total < 0) return FAIL;
      if (total <= rest) return total;
      put(c, C_NEED, total);
      put(c, C_PHASE, PH_BODY);
      return MORE;
    }
    // the header is cut by the chunk's end: keep the part of the field it holds
    if (!reach(fs) || n > gHi) return ask(fs, rest, 0);
    capture(c, inputPtr() + <usize>fs, 0, rest);
    return MORE;
  }
  const have = -fs;
  if (get(c, C_PHASE) == PH_HEAD) {
    let k = hsize - have;
    if (k > n) k = n;
    if (!reach(0) || gHi < k) return lengthAsk(c, 0, n, k);
    capture(c, inputPtr(), have, k);
    if (have + k < hsize) return MORE;
    const total = lengthOf(c, c + C_TAIL);
    if (total < 0) return FAIL;
    put(c, C_NEED, total);
    put(c, C_PHASE, PH_BODY);
  }
  const total = get(c, C_NEED);
  return total - have <= n ? total : MORE;
}

// ---------------------------------------------------------------- http

/** Parses a complete head at p; moves to the body phase, or fails. */
function headDone(c: usize, p: usize, head: i32): i32 {
  const max = get(c, C_MAX);
  const r = parseHead(p, head, <i64>max);
  if (r == HEAD_BAD) return fail(c, ERR_BAD_HTTP);
  if (r != OK) return fail(c, ERR_FRAME_TOO_LARGE);
  put(c, C_FLAGS, headFlags);
  if (headChunked) {
    put(c, C_PHASE, PH_CHUNKED);
    return OK;
  }
  const total = <i64>head + headLength;
  if (total > <i64>max) return fail(c, ERR_FRAME_TOO_LARGE);
  put(c, C_NEED, <i32>total);
  put(c, C_PHASE, PH_BODY);
  return OK;
}

/** Asks for a head at `from`: the rest of the chunk after small requests, a little (and at the predicted next heads) after big ones. */
function headAsk(c: usize, from: i32, rest: i32): i32 {
  if (get(c, C_LAST) <= SMALL_HTTP_FRAME) return ask(from, rest, 0);
  return ask(from, HEAD_WINDOW, strideFor(c, HEAD_WINDOW));
}

/** The head of a request starting at fs in this chunk. Returns OK (gCur: its end), MORE, NEED or FAIL. */
function headFresh(c: usize, fs: i32): i32 {
  const n = gN;
  if (!reach(fs)) return headAsk(c, fs, n - fs);
  const input = inputPtr();
  const p = input + <usize>fs;
  const max = get(c, C_MAX);
  const rest = n - fs;
  const limEnd = fs + (rest < max ? rest : max); // the head must end by here
  const end = gHi < limEnd ? gHi : limEnd;
  let from = gCur - 3;
  if (from < fs) from = fs;
  const q = findPattern(input + <usize>from, input + <usize>end, CRLFCRLF, 4);
  if (!q) {
    // the verdict needs every byte up to the limit, and the first 64 for the garbage check
    let stopAt = fs + 64;
    if (stopAt < limEnd) stopAt = limEnd;
    if (stopAt > n) stopAt = n;
    if (gHi < stopAt) {
      gCur = end;
      return ask(gHi, grow(), 0);
    }
    // Garbage is ERR_BAD_HTTP however it arrives, so this comes before the size check.
    if (!requestPrefixOk(p, rest)) return fail(c, ERR_BAD_HTTP);
    if (rest >= max) return fail(c, ERR_FRAME_TOO_LARGE);
    bufPut(c, 0, p, rest);
    return MORE;
  }
  const head = <i32>(q - p) + 4;
  if (headDone(c, p, head) != OK) return FAIL;
  gCur = fs + head;
  return OK;
}

const PREFIX: usize = memory.data(64);

/** requestPrefixOk over the buffered bytes followed by the chunk (only the first 64 matter). */
function prefixAcross(buf: usize, have: i32, p: usize, n: i32): bool {
  if (have >= 64) return true; // checked when those bytes arrived
  const k = n < 64 - have ? n : 64 - have;
  memory.copy(PREFIX, buf, <usize>have);
  memory.copy(PREFIX + <usize>have, p, <usize>k);
  return requestPrefixOk(PREFIX, have + k);
}

/** The rest of a head whose first `have` bytes came in earlier chunks (they are in C_BUF). */
function headCont(c: usize, have: i32): i32 {
  const n = gN;
  if (!reach(0) || gHi < (n < 3 ? n : 3)) return headAsk(c, 0, n);
  const input = inputPtr();
  const buf = <usize>get(c, C_BUF);
  const max = get(c, C_MAX);
  const room = max - have;
  const limEnd = n < room ? n : room;
  const end = gHi < limEnd ? gHi : limEnd;
  let e = -1;
  if (gCur == 0) e = findStraddle(buf, have, 0, input, gHi, CRLFCRLF, 4);
  if (e < 0) {
    let from = gCur - 3;
    if (from < 0) from = 0;
    const q = findPattern(input + <usize>from, input + <usize>end, CRLFCRLF, 4);
    if (q) e = <i32>(q - input) + 4;
  }
  if (e < 0) {
    let stopAt = 64 - have;
    if (stopAt < limEnd) stopAt = limEnd;
    if (stopAt > n) stopAt = n;
    if (gHi < stopAt) {
      gCur = end;
      return ask(gHi, grow(), 0);
    }
    if (!prefixAcross(buf, have, input, n)) return fail(c, ERR_BAD_HTTP);
    if (<i64>have + <i64>n >= <i64>max) return fail(c, ERR_FRAME_TOO_LARGE);
    bufPut(c, have, input, n);
    return MORE;
  }
  if (have + e > max) return fail(c, ERR_FRAME_TOO_LARGE);
  bufPut(c, have, input, e);
  if (headDone(c, <usize>get(c, C_BUF), have + e) != OK) return FAIL;
  bufClear(c);
  gCur = e;
  return OK;
}

function chunkedFail(c: usize, r: i32): i32 {
  return fail(c, r == CHUNK_BAD ? ERR_BAD_HTTP : ERR_FRAME_TOO_LARGE);
}

/** Runs the chunked body from gCur; every byte of it is read. */
function chunkedStep(c: usize, fs: i32): i32 {
  const n = gN;
  const max = get(c, C_MAX);
  let pos = gCur;
  while (pos < n) {
    if (!reach(pos)) {
      gCur = pos;
      return ask(pos, grow(), 0);
    }
    const r = runChunked(c + C_CHUNK, inputPtr() + <usize>pos, gHi - pos, <i64>max - <i64>(pos - fs));
    if (r >= 0) return pos + r - fs;
    if (r != CHUNK_MORE) return chunkedFail(c, r);
    pos = gHi;
  }
  gCur = pos;
  return MORE;
}

/**
 * Whole requests from gFs on, in locals, while each head ends in a copied
 * window and its Content-Length body ends inside the chunk. Stops at anything
 * else (chunked, a head not found yet, a bad or too large request, an
 * unfinished one) for httpStep to handle from the same place.
 */
function httpRun(c: usize): void {
  const n = gN;
  const input = inputPtr();
  const max = get(c, C_MAX);
  let fs = gFs;
  let out = gOut;
  let count = gCount;
  let last = get(c, C_LAST);
  let prev = get(c, C_PREV);
  while (fs < n && reach(fs)) {
    const rest = n - fs;
    let end = fs + (rest < max ? rest : max);
    if (end > gHi) end = gHi;
    const p = input + <usize>fs;
    const q = findPattern4(p, input + <usize>end, CRLFCRLF);
    if (!q) break;
    const head = <i32>(q - p) + 4;
    if (parseHead(p, head, <i64>max) != OK || headChunked) break;
    const total = <i64>head + headLength;
    if (total > <i64>max || total > <i64>rest) break;
    const r = <i32>total;
    store<i32>(out, fs);
    store<i32>(out, r, 4);
    store<i32>(out, headFlags, 8);
    out += 12;
    count++;
    prev = last;
    last = r;
    fs += r;
  }
  if (count != gCount) {
    gFs = gCur = fs;
    gOut = out;
    gCount = count;
    put(c, C_LAST, last);
    put(c, C_PREV, prev);
  }
}

function httpStep(c: usize): i32 {
  const fs = gFs;
  let phase = get(c, C_PHASE);
  if (phase == PH_HEAD) {
    const r = fs >= 0 ? headFresh(c, fs) : headCont(c, -fs);
    if (r != OK) return r;
    phase = get(c, C_PHASE);
  }
  if (phase == PH_BODY) {
    const total = get(c, C_NEED);
    return total <= gN - fs ? total : MORE;
  }
  return chunkedStep(c, fs);
}

// ---------------------------------------------------------------- proxy

/**
 * Reads the PROXY header that opens the connection, with any earlier bytes of
 * it in the buffer. Returns the chunk offset where it ends, MORE, NEED or FAIL.
 */
function proxyStep(c: usize): i32 {
  const blen = get(c, C_BLEN);
  let k = PROXY_MAX - blen;
  if (k > gN) k = gN;
  if (!reach(0) || gHi < k) return ask(0, k, 0);
  const input = inputPtr();
  let r: i32;
  if (blen == 0) {
    r = proxyHeader(input, k);
    if (r == PROXY_MORE) bufPut(c, 0, input, k);
  } else {
    bufPut(c, blen, input, k);
    r = proxyHeader(<usize>get(c, C_BUF), blen + k);
    if (r >= 0) r -= blen;
  }
  // A header is at most PROXY_MAX bytes, so "more" means the whole chunk was taken.
  if (r == PROXY_MORE) return MORE;
  if (r < 0) return fail(c, ERR_BAD_PROXY_HEADER);
  put(c, C_PROXY, 0);
  bufClear(c);
  return r;
}

// ---------------------------------------------------------------- the chunk loop

/**
 * Ends the chunk: where the unfinished frame starts (`hold`), its bytes so
 * far, the status. Returns the frame count when there is nothing more for the
 * host to do (no error, no unfinished frame, no spanning frame), else ~count.
 */
function stop(c: usize, hold: i32, have: i32, err: i32): i32 {
  put(c, C_HAVE, have);
  put(c, C_SKIP, err == OK && have > 0 && get(c, C_PHASE) == PH_BODY ? get(c, C_NEED) - have : 0);
  // A clean result tells the host everything: it reads the control block only otherwise.
  if (err == OK && hold == gN && !gSpan) return gCount;
  ctrlSet(CTRL_HOLD, hold);
  ctrlSet(CTRL_NEED_AT, -1);
  ctrlSet(CTRL_ERR, err);
  return ~gCount;
}

/** Stops for bytes (CTRL_NEED_* are set). */
// @ts-ignore: decorator
@inline function needMore(): i32 {
  return ~gCount;
}

/**
 * Ends the chunk with (`open`) or without an unfinished frame, and plans the
 * next one: copied whole, or through windows starting with the next header.
 */
function finish(c: usize, open: bool): i32 {
  const n = gN;
  const have = open ? n - gFs : 0;
  const mode = get(c, C_MODE);
  if (mode == PROTO_LENGTH || mode == PROTO_HTTP) {
    const small = get(c, C_LAST) <= (mode == PROTO_LENGTH ? SMALL_LENGTH_FRAME : SMALL_HTTP_FRAME);
    const phase = get(c, C_PHASE);
    const hwin = mode == PROTO_LENGTH ? get(c, C_HSIZE) : HEAD_WINDOW;
    let copy = small ? ALL : SMALL_CHUNK;
    let at = 0;
    let len = hwin;
    let stride = 0;
    if (have > 0 && phase == PH_BODY) {
      at = get(c, C_NEED) - have; // the next frame starts there
      if (at > SMALL_CHUNK) copy = SMALL_CHUNK; // and the next chunk may not reach it
      stride = strideFor(c, len);
    } else if (have > 0 && phase == PH_CHUNKED) {
      copy = ALL; // every byte of a chunked body is read
    } else if (have > 0) {
      if (mode == PROTO_LENGTH) len = hwin - have; // the rest of the header
    } else {
      stride = strideFor(c, len);
    }
    put(c, C_COPY, copy < copyCap ? copy : copyCap);
    put(c, C_AT, at);
    put(c, C_LEN, len);
    put(c, C_STRIDE, stride);
  }
  return stop(c, open ? gFs : n, have, OK);
}

/**
 * The common eof case, in locals: no frame began earlier and the whole chunk
 * is here; frames from chunk offset fs on. Returns as `feed` does.
 */
// @ts-ignore: decorator
@inline function eofWhole(c: usize, n: i32, fs: i32, out: usize, count: i32): i32 {
  const input = inputPtr();
  const pat = load<u64>(c + C_EOF);
  const len = get(c, C_EOF_LEN);
  const max = get(c, C_MAX);
  while (fs < n) {
    const p = input + <usize>fs;
    const rest = n - fs;
    const e = p + <usize>(rest < max ? rest : max);
    const q = len == 2 ? findPattern2(p, e, pat) : findPattern(p, e, pat, len);
    if (!q) {
      // the chunk ends inside a frame (no frame began earlier, so C_HAVE is 0 until now)
      gN = n;
      gCount = count;
      gOut = out;
      gSpan = false;
      gFs = gCur = fs;
      if (rest >= max) {
        put(c, C_ERR, ERR_FRAME_TOO_LARGE);
        return stop(c, n, 0, ERR_FRAME_TOO_LARGE);
      }
      put(c, C_TLEN, 0);
      keepTail(c, p, rest, len);
      return finish(c, true);
    }
    const r = <i32>(q - p) + len;
    store<i32>(out, fs);
    store<i32>(out, r, 4);
    store<i32>(out, 0, 8);
    out += 12;
    count++;
    fs += r;
  }
  return count; // clean: C_HAVE was and stays 0
}

function run(c: usize): i32 {
  const n = gN;
  if (get(c, C_PROXY) != 0) {
    const r = proxyStep(c);
    if (r == NEED) return needMore();
    if (r == MORE) return finish(c, false);
    if (r == FAIL) return stop(c, n, 0, get(c, C_ERR));
    gFs = gCur = r;
  }
  const mode = get(c, C_MODE);
  if (mode == PROTO_EOF && gFs >= 0 && gLo == 0 && gHi == n && !gSpan) return eofWhole(c, n, gFs, gOut, gCount);
  while (gFs < n) {
    let r: i32;
    if (gFs >= 0 && get(c, C_PHASE) == PH_HEAD) {
      // fresh frames: the loops in locals first
      if (mode == PROTO_LENGTH) lengthRun(c);
      else if (mode == PROTO_HTTP) httpRun(c);
      if (gFs >= n) break;
    }
    if (mode == PROTO_EOF) r = eofStep(c);
    else if (mode == PROTO_LENGTH) r = lengthStep(c);
    else if (mode == PROTO_HTTP) r = httpStep(c);
    else r = n - gFs; // raw: the rest of the chunk
    if (r > 0) {
      const fs = gFs;
      const out = gOut;
      store<i32>(out, fs);
      store<i32>(out, r, 4);
      store<i32>(out, get(c, C_FLAGS), 8);
      gOut = out + 12;
      gCount++;
      gFs = gCur = fs + r;
      if (fs < 0) gSpan = true;
      put(c, C_PREV, get(c, C_LAST));
      put(c, C_LAST, r);
      if (get(c, C_PHASE) != PH_HEAD) put(c, C_PHASE, PH_HEAD);
      continue;
    }
    if (r == NEED) return needMore();
    if (r == MORE) return finish(c, true);
    return stop(c, n, 0, get(c, C_ERR));
  }
  return finish(c, false);
}

/** The least length of a frame, to size the output area for a chunk. */
function minFrame(c: usize): i32 {
  const mode = get(c, C_MODE);
  if (mode == PROTO_EOF) return get(c, C_EOF_LEN);
  if (mode == PROTO_LENGTH) return get(c, C_HSIZE);
  if (mode == PROTO_HTTP) return 16;
  return 1;
}

/**
 * Starts framing a chunk of `n` bytes for connection `c`, with chunk bytes
 * [0, valid) in the input area. Writes one (offset, length, flags) triple per
 * frame to the output area. Returns their count when the chunk is done and
 * clean (see `stop`), else ~count: then CTRL_NEED_AT >= 0 says the core wants
 * those bytes (call `feedMore`), and CTRL_ERR and CTRL_HOLD say the rest. On bad
 * input the frames before it are still returned and CTRL_ERR holds the
 * error; the connection stays failed.
 */
export function feed(c: usize, n: i32, valid: i32): i32 {
  return start(c, n, valid);
}

// @ts-ignore: decorator
@inline function start(c: usize, n: i32, valid: i32): i32 {
  if (get(c, C_MODE) == PROTO_EOF && valid == n && (get(c, C_HAVE) | get(c, C_ERR) | get(c, C_PROXY)) == 0 && n > 0 && outputFits(n)) {
    return eofWhole(c, n, 0, outputPtr(), 0);
  }
  gCount = 0;
  gSpan = false;
  gN = n;
  const err = get(c, C_ERR);
  if (err != OK) return stop(c, n, 0, err);
  const have = get(c, C_HAVE);
  if (n <= 0) return stop(c, have > 0 ? -have : 0, have, OK);
  gOut = outputFits(n) ? outputPtr() : reserveOutput(n / minFrame(c) + 2);
  gLo = 0;
  gHi = valid;
  gFs = -have;
  gCur = 0;
  gSAt = -1;
  gAskStride = 0;
  if (valid < n) {
    // the host copied the plan's windows
    const at = get(c, C_AT);
    if (at >= 0 && at < n) {
      gSAt = at;
      gSLen = get(c, C_LEN);
      gSStride = get(c, C_STRIDE);
    }
  }
  if (get(c, C_PROXY) != 0) proxyClear();
  return run(c);
}

/** `feed` for a chunk of at most 16 bytes, passed as four little-endian words instead of through the input area. */
export function feedWords(c: usize, n: i32, w0: i32, w1: i32, w2: i32, w3: i32): i32 {
  const p = inputPtr();
  store<i32>(p, w0);
  store<i32>(p, w1, 4);
  store<i32>(p, w2, 8);
  store<i32>(p, w3, 12);
  return start(c, n, n);
}

/** Goes on with the chunk `feed` started, now that the bytes it asked for are in the input area, the first window being [at, end). */
export function feedMore(c: usize, at: i32, end: i32): i32 {
  if (gAskStride > 0) {
    gSAt = at;
    gSLen = gAskLen;
    gSStride = gAskStride;
    gAskStride = 0;
    gLo = at;
    gHi = end;
  } else if (at == gHi) {
    gHi = end;
  } else {
    gLo = at;
    gHi = end;
  }
  return run(c);
}
