// Per-connection message framing: one state machine, fed one socket chunk
// per call. A connection's state is a 96-byte record in linear memory.
//
// A chunk arrives in the input area. Frames wholly inside it are reported by
// their offset in the chunk, so the host can hand out a zero-copy subarray of
// the chunk it already holds. A frame that began in an earlier chunk is
// completed in the connection's buffer and reported at a negative offset; the
// control block's SPAN slot then says where it lies in memory. Only the first
// frame of a call can be such a span. Bytes of an unfinished frame are copied
// into the buffer once; when the frame's total length is known the buffer is
// sized exactly, so a large frame is never re-copied while it grows.
import {
  OK, ERR_FRAME_TOO_LARGE, ERR_BAD_LENGTH, ERR_BAD_HTTP, ERR_BAD_PROXY_HEADER,
  PROTO_RAW, PROTO_EOF, PROTO_LENGTH, PROTO_HTTP,
  CTRL_ERR, CTRL_SPAN_PTR,
} from "./status";
import { ctrlSet, inputPtr, reserveOutputFor, findPattern, findStraddle } from "./memory";
import { requestPrefixOk, parseHead, runChunked, headFlags, headChunked, headLength,
  HEAD_BAD, CHUNK_MORE, CHUNK_BAD } from "./http";
import { cfgProtocol, cfgEof, cfgEofLen, cfgLengthType, cfgLengthOffset, cfgBodyOffset, cfgMaxLength, cfgProxy } from "./settings";
import { proxyHeader, proxyClear, PROXY_MORE } from "./proxy";

// Connection record layout (byte offsets).
const C_MODE: usize = 0;
const C_EOF_LEN: usize = 4;
const C_EOF: usize = 8;       // u64, pattern bytes little-endian
const C_LTYPE: usize = 16;    // pack code of the length field, as a char code
const C_LOFF: usize = 20;     // package_length_offset
const C_BOFF: usize = 24;     // package_body_offset
const C_MAX: usize = 28;      // package_max_length
const C_BUF: usize = 32;      // buffer of the unfinished frame
const C_CAP: usize = 36;
const C_START: usize = 40;    // where the unfinished frame begins in the buffer
const C_END: usize = 44;
const C_NEED: usize = 48;     // the frame's total length, once known
const C_SCAN: usize = 52;     // delimiter search resumes here (offset in the frame)
const C_PHASE: usize = 56;
const C_FLAGS: usize = 60;
const C_CHUNK: usize = 64;    // chunked-body machine: state i32, pad, size i64
const C_ERR: usize = 80;      // sticky error
const C_HSIZE: usize = 84;    // length mode: bytes up to the end of the length field
const C_PROXY: usize = 88;    // 1 while a PROXY protocol header is awaited
const CONN_SIZE: usize = 96;

// Phases of the frame being assembled.
const PH_HEAD: i32 = 0;       // length unknown: searching a delimiter, or the header is short
const PH_BODY: i32 = 1;       // total length known (C_NEED)
const PH_CHUNKED: i32 = 2;    // HTTP chunked body in progress

// Results of the per-mode steps.
const MORE: i32 = -1;
const FAIL: i32 = -2;

// A buffer this large is freed once it empties, so one big frame does not pin memory.
const KEEP_CAP: i32 = 65536;

const CRLFCRLF: u64 = 0x0a0d0a0d;

// @ts-ignore: decorator
@inline function get(c: usize, f: usize): i32 { return load<i32>(c + f); }
// @ts-ignore: decorator
@inline function put(c: usize, f: usize, v: i32): void { store<i32>(c + f, v); }

function fail(c: usize, code: i32): i32 {
  put(c, C_ERR, code);
  return FAIL;
}

function fieldSize(t: i32): i32 {
  if (t == 0x63 || t == 0x43) return 1;                                // c C
  if (t == 0x73 || t == 0x53 || t == 0x6e || t == 0x76) return 2;      // s S n v
  return 4;                                                            // l L N V
}

function readLength(p: usize, t: i32): i64 {
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
  put(c, C_MODE, cfgProtocol());
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

/** Bytes held for the unfinished frame (for tests and stats). */
export function connBuffered(c: usize): i32 {
  return get(c, C_END) - get(c, C_START);
}

function resetFrame(c: usize): void {
  put(c, C_NEED, 0);
  put(c, C_SCAN, 0);
  put(c, C_PHASE, PH_HEAD);
  put(c, C_FLAGS, 0);
  store<i32>(c + C_CHUNK, 0);
  store<i64>(c + C_CHUNK, 0, 8);
}

/** Makes the buffer hold `required` bytes; doubles unless `exact`. */
function reserve(c: usize, required: i32, exact: bool): usize {
  let buf = <usize>get(c, C_BUF);
  const cap = get(c, C_CAP);
  if (required <= cap) return buf;
  let next = required;
  if (!exact) {
    next = cap < 256 ? 256 : cap * 2;
    if (next < required) next = required;
  }
  buf = buf ? heap.realloc(buf, <usize>next) : heap.alloc(<usize>next);
  put(c, C_BUF, <i32>buf);
  put(c, C_CAP, next);
  return buf;
}

/** Appends [src, src+n) to the buffer. */
function append(c: usize, src: usize, n: i32): void {
  if (n <= 0) return;
  const end = get(c, C_END);
  const exact = get(c, C_PHASE) == PH_BODY;
  const required = exact ? get(c, C_START) + get(c, C_NEED) : end + n;
  const buf = reserve(c, required > end + n ? required : end + n, exact);
  memory.copy(buf + <usize>end, src, <usize>n);
  put(c, C_END, end + n);
}

/** Reads the length header at p; sets C_NEED, or fails. */
function lengthTotal(c: usize, p: usize): i32 {
  const len = readLength(p + <usize>get(c, C_LOFF), get(c, C_LTYPE));
  if (len < 0) return fail(c, ERR_BAD_LENGTH);
  const total = <i64>get(c, C_BOFF) + len;
  if (total < <i64>get(c, C_HSIZE)) return fail(c, ERR_BAD_LENGTH);
  if (total > <i64>get(c, C_MAX)) return fail(c, ERR_FRAME_TOO_LARGE);
  put(c, C_NEED, <i32>total);
  put(c, C_PHASE, PH_BODY);
  return OK;
}

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

function chunkedFail(c: usize, r: i32): i32 {
  return fail(c, r == CHUNK_BAD ? ERR_BAD_HTTP : ERR_FRAME_TOO_LARGE);
}

/**
 * Looks for a whole frame at the start of [p, p+n), with no earlier bytes
 * buffered. Returns its length, MORE (state kept, bytes not yet stashed) or FAIL.
 */
function frameAt(c: usize, p: usize, n: i32): i32 {
  const max = get(c, C_MAX);
  const lim = n < max ? n : max;
  switch (get(c, C_MODE)) {
    case PROTO_EOF: {
      const len = get(c, C_EOF_LEN);
      const q = findPattern(p, p + <usize>lim, load<u64>(c + C_EOF), len);
      if (q) return <i32>(q - p) + len;
      if (n >= max) return fail(c, ERR_FRAME_TOO_LARGE);
      put(c, C_SCAN, n - len + 1 > 0 ? n - len + 1 : 0);
      return MORE;
    }
    case PROTO_LENGTH: {
      if (n < get(c, C_HSIZE)) return MORE;
      if (lengthTotal(c, p) != OK) return FAIL;
      const need = get(c, C_NEED);
      return n >= need ? need : MORE;
    }
    case PROTO_HTTP: {
      const q = findPattern(p, p + <usize>lim, CRLFCRLF, 4);
      if (!q) {
        // Garbage is ERR_BAD_HTTP however it arrives, so this comes before the size check.
        if (!requestPrefixOk(p, n)) return fail(c, ERR_BAD_HTTP);
        if (n >= max) return fail(c, ERR_FRAME_TOO_LARGE);
        put(c, C_SCAN, n - 3 > 0 ? n - 3 : 0);
        return MORE;
      }
      const head = <i32>(q - p) + 4;
      if (headDone(c, p, head) != OK) return FAIL;
      if (get(c, C_PHASE) == PH_CHUNKED) {
        const r = runChunked(c + C_CHUNK, p + <usize>head, n - head, <i64>(max - head));
        if (r >= 0) return head + r;
        if (r == CHUNK_MORE) return MORE;
        return chunkedFail(c, r);
      }
      const need = get(c, C_NEED);
      return n >= need ? need : MORE;
    }
    default:
      return n;
  }
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

/** Feeds the body phase (C_NEED known) from [p, p+n). Returns bytes used, or MORE. */
function bodyStep(c: usize, p: usize, n: i32): i32 {
  const have = get(c, C_END) - get(c, C_START);
  let take = get(c, C_NEED) - have;
  const done = take <= n;
  if (!done) take = n;
  append(c, p, take);
  return done ? take : MORE;
}

/**
 * Continues the unfinished frame in the buffer with [p, p+n). Returns how
 * many bytes of the chunk complete it, MORE when all were absorbed, or FAIL.
 */
function continueFrame(c: usize, p: usize, n: i32): i32 {
  const buf = <usize>get(c, C_BUF);
  const have = get(c, C_END);
  const max = get(c, C_MAX);
  switch (get(c, C_MODE)) {
    case PROTO_EOF: {
      const pat = load<u64>(c + C_EOF);
      const len = get(c, C_EOF_LEN);
      let e = findStraddle(buf, have, get(c, C_SCAN), p, n, pat, len);
      if (e < 0) {
        const room = max - have;
        const lim = n < room ? n : (room > 0 ? room : 0);
        const q = findPattern(p, p + <usize>lim, pat, len);
        if (q) e = <i32>(q - p) + len;
      }
      if (e < 0) {
        if (<i64>have + <i64>n >= <i64>max) return fail(c, ERR_FRAME_TOO_LARGE);
        append(c, p, n);
        const scan = have + n - len + 1;
        put(c, C_SCAN, scan > 0 ? scan : 0);
        return MORE;
      }
      if (have + e > max) return fail(c, ERR_FRAME_TOO_LARGE);
      append(c, p, e);
      return e;
    }
    case PROTO_LENGTH: {
      let used = 0;
      if (get(c, C_PHASE) == PH_HEAD) {
        const hsize = get(c, C_HSIZE);
        used = hsize - have;
        if (used > n) used = n;
        append(c, p, used);
        if (have + used < hsize) return MORE;
        if (lengthTotal(c, <usize>get(c, C_BUF)) != OK) return FAIL;
        reserve(c, get(c, C_NEED), true);
      }
      const r = bodyStep(c, p + <usize>used, n - used);
      return r == MORE ? MORE : used + r;
    }
    case PROTO_HTTP: {
      let used = 0;
      const phase = get(c, C_PHASE);
      if (phase == PH_HEAD) {
        let e = findStraddle(buf, have, get(c, C_SCAN), p, n, CRLFCRLF, 4);
        if (e < 0) {
          const room = max - have;
          const lim = n < room ? n : (room > 0 ? room : 0);
          const q = findPattern(p, p + <usize>lim, CRLFCRLF, 4);
          if (q) e = <i32>(q - p) + 4;
        }
        if (e < 0) {
          if (!prefixAcross(buf, have, p, n)) return fail(c, ERR_BAD_HTTP);
          if (<i64>have + <i64>n >= <i64>max) return fail(c, ERR_FRAME_TOO_LARGE);
          append(c, p, n);
          put(c, C_SCAN, have + n - 3 > 0 ? have + n - 3 : 0);
          return MORE;
        }
        if (have + e > max) return fail(c, ERR_FRAME_TOO_LARGE);
        append(c, p, e);
        used = e;
        if (headDone(c, <usize>get(c, C_BUF), have + e) != OK) return FAIL;
        if (get(c, C_PHASE) == PH_BODY) reserve(c, get(c, C_NEED), true);
      }
      if (get(c, C_PHASE) == PH_CHUNKED) {
        const r = runChunked(c + C_CHUNK, p + <usize>used, n - used, <i64>(max - get(c, C_END)));
        if (r >= 0) {
          append(c, p + <usize>used, r);
          return used + r;
        }
        if (r != CHUNK_MORE) return chunkedFail(c, r);
        append(c, p + <usize>used, n - used);
        return MORE;
      }
      const r = bodyStep(c, p + <usize>used, n - used);
      return r == MORE ? MORE : used + r;
    }
    default:
      return n;
  }
}

/**
 * Reads the PROXY header that opens the connection from [p, p+n), with any
 * earlier bytes of it in the buffer. Returns how many bytes of the chunk
 * it took, MORE, or FAIL.
 */
function proxyStep(c: usize, p: usize, n: i32): i32 {
  const have = get(c, C_END);
  let r: i32;
  if (have == 0) {
    r = proxyHeader(p, n);
    if (r == PROXY_MORE) append(c, p, n);
  } else {
    append(c, p, n);
    r = proxyHeader(<usize>get(c, C_BUF), have + n);
    if (r >= 0) r -= have;
  }
  if (r == PROXY_MORE) return MORE;
  if (r < 0) return fail(c, ERR_BAD_PROXY_HEADER);
  put(c, C_PROXY, 0);
  put(c, C_START, 0);
  put(c, C_END, 0);
  return r;
}

/**
 * Frames the `n` bytes in the input area for connection `c`. Writes one
 * (offset, length, flags) triple per frame to the output area and returns
 * how many. An offset is counted from the chunk's first byte; a negative one
 * marks the frame that began earlier, whose bytes lie at CTRL_SPAN_PTR.
 * On bad input the frames before it are still returned and CTRL_ERR holds
 * the error; the connection stays failed.
 */
export function feed(c: usize, n: i32): i32 {
  ctrlSet(CTRL_ERR, OK);
  const err = get(c, C_ERR);
  if (err != OK) {
    ctrlSet(CTRL_ERR, err);
    return 0;
  }
  const mode = get(c, C_MODE);
  let min = 1;
  if (mode == PROTO_EOF) min = get(c, C_EOF_LEN);
  else if (mode == PROTO_LENGTH) min = get(c, C_HSIZE);
  else if (mode == PROTO_HTTP) min = 16;
  let out = reserveOutputFor(n, min);
  if (n <= 0) return 0;
  let p = 0;
  if (get(c, C_PROXY) != 0) {
    proxyClear();
    const r = proxyStep(c, inputPtr(), n);
    if (r == FAIL) {
      ctrlSet(CTRL_ERR, get(c, C_ERR));
      return 0;
    }
    if (r == MORE) return 0;
    p = r;
    if (p == n) return 0;
  }
  if (mode == PROTO_RAW) {
    store<i32>(out, p);
    store<i32>(out, n - p, 4);
    store<i32>(out, 0, 8);
    return 1;
  }

  // Drop the span reported by the previous call, keeping its tail.
  let start = get(c, C_START);
  let end = get(c, C_END);
  if (start > 0) {
    memory.copy(<usize>get(c, C_BUF), <usize>get(c, C_BUF) + <usize>start, <usize>(end - start));
    end -= start;
    put(c, C_START, 0);
    put(c, C_END, end);
  }
  if (end == 0 && get(c, C_CAP) > KEEP_CAP) {
    heap.free(<usize>get(c, C_BUF));
    put(c, C_BUF, 0);
    put(c, C_CAP, 0);
  }

  const input = inputPtr();
  let count = 0;
  if (end > 0) {
    const r = continueFrame(c, input, n);
    if (r == FAIL) {
      ctrlSet(CTRL_ERR, get(c, C_ERR));
      return 0;
    }
    if (r == MORE) return 0;
    const flen = get(c, C_END);
    store<i32>(out, -end);
    store<i32>(out, flen, 4);
    store<i32>(out, get(c, C_FLAGS), 8);
    out += 12;
    count = 1;
    put(c, C_START, flen); // any tail is stashed after the span until the next call
    resetFrame(c);
    p = r;
  }
  while (p < n) {
    const r = frameAt(c, input + <usize>p, n - p);
    if (r > 0) {
      store<i32>(out, p);
      store<i32>(out, r, 4);
      store<i32>(out, get(c, C_FLAGS), 8);
      out += 12;
      count++;
      p += r;
      resetFrame(c);
      continue;
    }
    if (r == MORE) {
      append(c, input + <usize>p, n - p);
    } else {
      ctrlSet(CTRL_ERR, get(c, C_ERR));
    }
    break;
  }
  if (count > 0 && end > 0) ctrlSet(CTRL_SPAN_PTR, get(c, C_BUF));
  return count;
}
