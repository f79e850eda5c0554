// http framing (open_http_protocol): a frame is one HTTP/1.x request, its
// head up to CRLF CRLF and then a Content-Length or chunked body. The parsing
// is http.ts (parseHead, runChunked); this file finds the bytes for it. What
// is read: heads and chunked bodies, never a Content-Length body, so a long
// chunk goes through windows (a little at each predicted head after big
// requests, the rest of the chunk after small ones). What is kept across
// chunks: a head until its CRLF CRLF, in the record's buffer (parseHead wants
// it contiguous), and the chunked-body machine's state (C_CHUNK).
//
// `httpRun` takes whole requests in locals; `httpStep` takes one request,
// cut or not, from the loop in framing.ts `run`: its head (headFresh, or
// headCont for one begun in an earlier chunk), then its body.
import { OK, ERR_FRAME_TOO_LARGE, ERR_BAD_HTTP, ERR_OUT_OF_MEMORY } from "./status";
import { inputPtr, findPattern, findPattern4, findStraddle } from "./memory";
import { requestPrefixOk, parseHead, runChunked, headFlags, headChunked, headLength,
  HEAD_BAD, CHUNK_MORE, CHUNK_BAD } from "./http";
import {
  C_MAX, C_NEED, C_PHASE, C_FLAGS, C_CHUNK, C_LAST, C_PREV, C_BUF,
  PH_HEAD, PH_BODY, PH_CHUNKED, MORE, FAIL, get, put, fail, bufPut, bufClear,
} from "./record";
import {
  gN, gHi, gFs, gCur, gOut, gCount, reach, ask, strideFor, grow, advance, setCur,
  SMALL_HTTP_FRAME, HEAD_WINDOW,
} from "./windows";

const CRLFCRLF: u64 = 0x0a0d0a0d;

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
      setCur(end);
      return ask(gHi, grow(), 0);
    }
    // Garbage is ERR_BAD_HTTP however it arrives, so this comes before the size check.
    if (!requestPrefixOk(p, rest)) return fail(c, ERR_BAD_HTTP);
    if (rest >= max) return fail(c, ERR_FRAME_TOO_LARGE);
    if (!bufPut(c, 0, p, rest)) return fail(c, ERR_OUT_OF_MEMORY);
    return MORE;
  }
  const head = <i32>(q - p) + 4;
  if (headDone(c, p, head) != OK) return FAIL;
  setCur(fs + head);
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
      setCur(end);
      return ask(gHi, grow(), 0);
    }
    if (!prefixAcross(buf, have, input, n)) return fail(c, ERR_BAD_HTTP);
    if (<i64>have + <i64>n >= <i64>max) return fail(c, ERR_FRAME_TOO_LARGE);
    if (!bufPut(c, have, input, n)) return fail(c, ERR_OUT_OF_MEMORY);
    return MORE;
  }
  if (have + e > max) return fail(c, ERR_FRAME_TOO_LARGE);
  if (!bufPut(c, have, input, e)) return fail(c, ERR_OUT_OF_MEMORY);
  if (headDone(c, <usize>get(c, C_BUF), have + e) != OK) return FAIL;
  bufClear(c);
  setCur(e);
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
      setCur(pos);
      return ask(pos, grow(), 0);
    }
    const r = runChunked(c + C_CHUNK, inputPtr() + <usize>pos, gHi - pos, <i64>max - <i64>(pos - fs));
    if (r >= 0) return pos + r - fs;
    if (r != CHUNK_MORE) return chunkedFail(c, r);
    pos = gHi;
  }
  setCur(pos);
  return MORE;
}

/**
 * Whole requests from gFs on, in locals, while each head ends in a copied
 * window and its Content-Length body ends inside the chunk. Stops at anything
 * else (chunked, a head not found yet, a bad or too large request, an
 * unfinished one) for httpStep to handle from the same place.
 */
export function httpRun(c: usize): void {
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
  advance(c, fs, out, count, last, prev);
}

/** The request at gFs: its length, MORE, NEED (for its head or chunked body) or FAIL. */
export function httpStep(c: usize): i32 {
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
