// Per-connection message framing: one state machine per connection, fed one
// socket chunk per `feed` call. A connection's state is a 176-byte record in
// linear memory (record.ts), whose first eight words the host reads too
// (status.ts CONN_*).
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
// that slice, and CTRL_ERR holds any error, with CTRL_REASON (why: REASON_*)
// and CTRL_ERR_AT (the offending byte's chunk offset; negative: in an earlier
// chunk). CTRL_CONTINUE is 1 when the chunk completed the head of an HTTP
// request expecting 100-continue and left its body unstarted (the frame is
// then unfinished, so this is always a ~count result). Bytes between frames
// may belong to none (CR/LF before an HTTP request). HTTP frames carry
// FLAG_CLOSE (nothing is framed after it) and FLAG_UPGRADE (the rest of each
// later chunk is one FLAG_RAW frame). The core keeps only what it must
// parse: the bytes of a length field until the length is known, an HTTP head
// until its CRLF CRLF (parseHead wants it contiguous), the last
// delimiter-length-1 bytes of an eof frame (for a delimiter across chunks),
// the PROXY header until complete, the HTTP head parser's and the chunked
// body's state; and the unfinished frame's byte count
// (CONN_HAVE), for the package_max_length checks. When that frame's length is
// known, CONN_SKIP says how many bytes it still lacks: the host keeps a
// shorter chunk without calling the core at all.
//
// Where things are: this file has the entry points (`feed`, `feed_more`,
// `feed_words`, a connection's open and close) and the loop (`run`) that
// reads the PROXY header, then hands each frame to its protocol's step in
// frame_eof.ts, frame_length.ts or frame_http.ts (raw: the rest of the
// chunk), which returns the frame's length, or MORE, NEED or FAIL. The chunk
// being fed, its windows, the asks and how a chunk ends (the result, and the
// plan for the next chunk) are windows.ts; the record's layout is record.ts.
import {
  OK,
  PROXY_MAX,
  ERR_BAD_PROXY_HEADER,
  ERR_OUT_OF_MEMORY,
  REASON_BAD_PROXY_HEADER,
  REASON_OUT_OF_MEMORY,
  PROTO_EOF,
  PROTO_LENGTH,
  PROTO_HTTP,
} from './status';
import { inputPtr, outputFits, outputPtr, reserveOutput, reserveScratch } from './memory';
import {
  cfgProtocol,
  cfgEof,
  cfgEofLen,
  cfgLengthType,
  cfgLengthOffset,
  cfgBodyOffset,
  cfgMaxLength,
  cfgProxy,
} from './settings';
import { proxyHeader, proxyClear, PROXY_MORE } from './proxy';
import {
  C_MODE,
  C_COPY,
  C_HAVE,
  C_AT,
  C_LEN,
  C_EOF,
  C_EOF_LEN,
  C_LTYPE,
  C_LOFF,
  C_BOFF,
  C_MAX,
  C_HSIZE,
  C_PHASE,
  C_ERR,
  C_ERRAT,
  C_PROXY,
  C_BUF,
  C_BLEN,
  CONN_SIZE,
  C_CAP,
  C_SLOT,
  PH_HEAD,
  MORE,
  FAIL,
  NEED,
  get,
  put,
  fail,
  bufPut,
  bufClear,
  bufFree,
} from './record';
import {
  ALL,
  SMALL_CHUNK,
  HEAD_WINDOW,
  copyCap,
  chunkLen,
  windowLo,
  windowHi,
  frameStart,
  nextTriple,
  frameCount,
  spanReturned,
  chunkBegin,
  chunkWindows,
  chunkMore,
  chunkFrom,
  emit,
  reach,
  ask,
  stop,
  needMore,
  finish,
} from './windows';
import { eofStep, eofWhole } from './frame_eof';
import { lengthStep, lengthRun, fieldSize } from './frame_length';
import { httpStep, httpRun } from './frame_http';

// setCopyLimit lives with the windows it caps; index.ts exports it from here.
export { setCopyLimit } from './windows';

// ---------------------------------------------------------------- connections

/** Opens a connection framed by the settings of store `st` (settings.ts storeNew), as they are now. Returns its record. */
export function connOpen(st: usize): usize {
  const c = heap.alloc(CONN_SIZE);
  memory.fill(c, 0, CONN_SIZE);
  const mode = cfgProtocol(st);
  put(c, C_MODE, mode);
  const windows = mode == PROTO_LENGTH || mode == PROTO_HTTP;
  const copy = windows ? SMALL_CHUNK : ALL;
  put(c, C_COPY, copy < copyCap ? copy : copyCap);
  put(c, C_AT, windows ? 0 : -1);
  const lengthType = cfgLengthType(st);
  const headerSize = cfgLengthOffset(st) + fieldSize(lengthType);
  put(c, C_LEN, mode == PROTO_LENGTH ? headerSize : HEAD_WINDOW);
  put(c, C_EOF_LEN, cfgEofLen(st));
  store<u64>(c + C_EOF, cfgEof(st));
  put(c, C_LTYPE, lengthType);
  put(c, C_LOFF, cfgLengthOffset(st));
  put(c, C_BOFF, cfgBodyOffset(st));
  put(c, C_MAX, cfgMaxLength(st));
  put(c, C_HSIZE, headerSize);
  put(c, C_PROXY, cfgProxy(st) ? 1 : 0);
  return c;
}

/** Frees a connection and its buffer. */
export function connClose(c: usize): void {
  bufFree(c);
  heap.free(c);
}

/** Bytes of linear memory the connection holds for unfinished input (its buffer). */
export function connHeld(c: usize): i32 {
  return get(c, C_CAP);
}

/** Bytes of the unfinished frame in earlier chunks (held by the host). */
export function connBuffered(c: usize): i32 {
  return get(c, C_HAVE);
}

// A connection's framing state as bytes, for handing it to another worker
// (reload_handover): a stamp, the record, then the bytes of its buffer. The
// record holds no pointer but its buffer's, so it moves as it is; the stamp
// keeps a core of another layout (a new deploy) from reading it.
const STATE_STAMP: u32 = 0x54535031 ^ ((<u32>CONN_SIZE) << 8); // "1PST" and the record's size

/** Writes connection c's framing state to the scratch area; returns its length. */
export function connSave(c: usize): i32 {
  const blen = get(c, C_BLEN);
  const n = 4 + <i32>CONN_SIZE + blen;
  const p = reserveScratch(n);
  store<u32>(p, STATE_STAMP);
  memory.copy(p + 4, c, CONN_SIZE);
  // The buffer's address and size are this instance's; the host's slot likewise.
  store<i32>(p + 4 + C_BUF, 0);
  store<i32>(p + 4 + C_CAP, 0);
  store<i32>(p + 4 + C_SLOT, 0);
  if (blen > 0) memory.copy(p + 4 + CONN_SIZE, <usize>get(c, C_BUF), <usize>blen);
  return n;
}

/**
 * A connection from a state connSave wrote, `n` bytes in the scratch area.
 * Returns its record, or 0 when the state is not one this core wrote or its
 * buffer cannot be had.
 */
export function connRestore(n: i32): usize {
  const p = reserveScratch(0);
  if (n < 4 + <i32>CONN_SIZE || load<u32>(p) != STATE_STAMP) return 0;
  const blen = load<i32>(p + 4 + C_BLEN);
  if (blen < 0 || 4 + <i32>CONN_SIZE + blen != n) return 0;
  const c = heap.alloc(CONN_SIZE);
  memory.copy(c, p + 4, CONN_SIZE);
  put(c, C_BLEN, 0);
  if (blen > 0 && !bufPut(c, 0, p + 4 + CONN_SIZE, blen)) {
    heap.free(c);
    return 0;
  }
  return c;
}

// ---------------------------------------------------------------- proxy

/**
 * Reads the PROXY header that opens the connection, with any earlier bytes of
 * it in the buffer. Returns the chunk offset where it ends, MORE, NEED or FAIL.
 */
function proxyStep(c: usize): i32 {
  const blen = get(c, C_BLEN);
  let k = PROXY_MAX - blen;
  if (k > chunkLen) k = chunkLen;
  if (!reach(0) || windowHi < k) return ask(0, k, 0);
  const input = inputPtr();
  let r: i32;
  if (blen == 0) {
    r = proxyHeader(input, k);
    if (r == PROXY_MORE && !bufPut(c, 0, input, k)) return fail(c, ERR_OUT_OF_MEMORY, REASON_OUT_OF_MEMORY, 0, chunkLen);
  } else {
    if (!bufPut(c, blen, input, k)) return fail(c, ERR_OUT_OF_MEMORY, REASON_OUT_OF_MEMORY, 0, chunkLen);
    r = proxyHeader(<usize>get(c, C_BUF), blen + k);
    if (r >= 0) r -= blen;
  }
  // A header is at most PROXY_MAX bytes, so "more" means the whole chunk was taken.
  if (r == PROXY_MORE) return MORE;
  if (r < 0) return fail(c, ERR_BAD_PROXY_HEADER, REASON_BAD_PROXY_HEADER, -blen, chunkLen);
  put(c, C_PROXY, 0);
  bufClear(c);
  return r;
}

// ---------------------------------------------------------------- the chunk loop

function run(c: usize): i32 {
  const n = chunkLen;
  if (get(c, C_PROXY) != 0) {
    const r = proxyStep(c);
    if (r == NEED) return needMore();
    if (r == MORE) return finish(c, false);
    if (r == FAIL) return stop(c, n, 0, get(c, C_ERR));
    chunkFrom(r);
  }
  const mode = get(c, C_MODE);
  if (mode == PROTO_EOF && frameStart >= 0 && windowLo == 0 && windowHi == n && !spanReturned)
    return eofWhole(c, n, frameStart, nextTriple, frameCount);
  while (frameStart < n) {
    let r: i32;
    if (frameStart >= 0 && get(c, C_PHASE) == PH_HEAD) {
      // fresh frames: the loops in locals first
      if (mode == PROTO_LENGTH) lengthRun(c);
      else if (mode == PROTO_HTTP) httpRun(c);
      if (frameStart >= n) break;
    }
    if (mode == PROTO_EOF) r = eofStep(c);
    else if (mode == PROTO_LENGTH) r = lengthStep(c);
    else if (mode == PROTO_HTTP) r = httpStep(c);
    else r = n - frameStart; // raw: the rest of the chunk
    if (r > 0) {
      emit(c, r);
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

// @ts-expect-error: decorator
@inline function start(c: usize, n: i32, valid: i32): i32 {
  if (
    get(c, C_MODE) == PROTO_EOF &&
    valid == n &&
    (get(c, C_HAVE) | get(c, C_ERR) | get(c, C_PROXY)) == 0 &&
    n > 0 &&
    outputFits(n)
  ) {
    return eofWhole(c, n, 0, outputPtr(), 0);
  }
  chunkBegin(n);
  const err = get(c, C_ERR);
  if (err != OK) {
    // the offending byte is now n bytes further back
    put(c, C_ERRAT, get(c, C_ERRAT) - n);
    return stop(c, n, 0, err);
  }
  const have = get(c, C_HAVE);
  if (n <= 0) return stop(c, have > 0 ? -have : 0, have, OK);
  const out = outputFits(n) ? outputPtr() : reserveOutput(n / minFrame(c) + 2);
  chunkWindows(c, n, valid, have, out);
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
  chunkMore(at, end);
  return run(c);
}
