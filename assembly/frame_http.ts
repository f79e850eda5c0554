// http framing (open_http_protocol): a frame is one HTTP/1.x request, its
// head up to CRLF CRLF and then a Content-Length or chunked body. The
// parsing is http.ts (parseHead, with http_fields.ts for the header fields)
// and chunked.ts (runChunked); this file finds the bytes for them. What is
// read: heads and chunked bodies, never a Content-Length body, so a long
// chunk goes through windows (a little at each predicted head after big
// requests, the rest of the chunk after small ones). What is kept across
// chunks: a head until its CRLF CRLF, in the record's buffer (parseHead wants
// it contiguous), with the head parser's state; and the chunked-body
// machine's state (C_CHUNK).
//
// Between requests, any CR and LF bytes are skipped (as llhttp does): they
// belong to no frame. After a request with FLAG_CLOSE the connection frames
// nothing more: later bytes are ignored. After one with FLAG_UPGRADE (an
// upgrade, or CONNECT) the rest of every chunk is one FLAG_RAW frame.
//
// `httpRun` takes whole requests in locals; `httpStep` takes one request,
// cut or not, from the loop in framing.ts `run`: its head (headFresh, or
// headCont for one begun in an earlier chunk), then its body.
import {
  OK,
  ERR_FRAME_TOO_LARGE,
  ERR_BAD_HTTP,
  ERR_OUT_OF_MEMORY,
  FLAG_RAW,
  REASON_HEAD_TOO_LARGE,
  REASON_BODY_TOO_LARGE,
  REASON_OUT_OF_MEMORY,
} from './status';
import { inputPtr, putTriple } from './memory';
import { parseHead, headFlags, headChunked, headLength, headExpect, headClAt, headReason, headErrAt, HEAD_BAD } from './http';
import { runChunked, chunkReason, chunkErrAt, CHUNK_MORE, CHUNK_BAD } from './chunked';
import { isEmptyLineByte } from './http_chars';
import {
  C_MAX,
  C_NEED,
  C_PHASE,
  C_FLAGS,
  C_CHUNK,
  C_LAST,
  C_PREV,
  C_BUF,
  C_BLEN,
  C_HPOS,
  PH_HEAD,
  PH_BODY,
  PH_CHUNKED,
  PH_RAW,
  PH_CLOSED,
  MORE,
  FAIL,
  get,
  put,
  fail,
  bufPut,
  bufClear,
} from './record';
import {
  chunkLen,
  windowHi,
  frameStart,
  frameCursor,
  nextTriple,
  frameCount,
  reach,
  ask,
  strideFor,
  grow,
  advance,
  setCursor,
  chunkFrom,
  afterFlags,
  expectContinue,
  SMALL_HTTP_FRAME,
  HEAD_WINDOW,
} from './windows';

/**
 * Takes a parsed head of `head` bytes whose first byte is at chunk offset
 * `base` (negative: in earlier chunks): moves to the body phase, or fails.
 */
function headDone(c: usize, head: i32, base: i32): i32 {
  put(c, C_FLAGS, headFlags);
  if (headExpect) expectContinue(base + head);
  if (headChunked) {
    put(c, C_PHASE, PH_CHUNKED);
    return OK;
  }
  const total = <i64>head + headLength;
  if (total > <i64>get(c, C_MAX)) return fail(c, ERR_FRAME_TOO_LARGE, REASON_BODY_TOO_LARGE, base + headClAt, chunkLen);
  put(c, C_NEED, <i32>total);
  put(c, C_PHASE, PH_BODY);
  return OK;
}

/** parseHead refused the head whose first byte is at chunk offset `base`. */
function headFail(c: usize, base: i32): i32 {
  const code = headReason == REASON_BODY_TOO_LARGE ? ERR_FRAME_TOO_LARGE : ERR_BAD_HTTP;
  return fail(c, code, headReason, base + headErrAt, chunkLen);
}

/** Asks for a head at `from`: the rest of the chunk after small requests, a little (and at the predicted next heads) after big ones. */
function headAsk(c: usize, from: i32, rest: i32): i32 {
  if (get(c, C_LAST) <= SMALL_HTTP_FRAME) return ask(from, rest, 0);
  return ask(from, HEAD_WINDOW, strideFor(c, HEAD_WINDOW));
}

/** The head of a request starting at fs in this chunk. Returns OK (frameCursor: its end), MORE, NEED or FAIL. */
function headFresh(c: usize, fs: i32): i32 {
  const n = chunkLen;
  if (!reach(fs)) return headAsk(c, fs, n - fs);
  const input = inputPtr();
  if (get(c, C_HPOS) == 0) {
    // empty lines before a request line belong to no frame
    let s = fs;
    while (s < windowHi && isEmptyLineByte(load<u8>(input + <usize>s))) s++;
    if (s != fs) {
      chunkFrom(s);
      fs = s;
      if (s == n) return MORE; // nothing left: nothing unfinished
      if (s == windowHi) return headAsk(c, s, n - s);
    }
  }
  const p = input + <usize>fs;
  const max = get(c, C_MAX);
  const rest = n - fs;
  const limEnd = fs + (rest < max ? rest : max); // the head must end by here
  const end = windowHi < limEnd ? windowHi : limEnd;
  const r = parseHead(c, p, end - fs, <i64>max);
  if (r > 0) {
    if (headDone(c, r, fs) != OK) return FAIL;
    setCursor(fs + r);
    return OK;
  }
  if (r == HEAD_BAD) return headFail(c, fs);
  // good so far, and not over
  if (end < limEnd) return ask(end, grow(), 0);
  // the offending byte is the first past the limit (it may not have arrived yet)
  if (rest >= max) return fail(c, ERR_FRAME_TOO_LARGE, REASON_HEAD_TOO_LARGE, fs + max, n);
  if (!bufPut(c, 0, p, rest)) return fail(c, ERR_OUT_OF_MEMORY, REASON_OUT_OF_MEMORY, fs, n);
  return MORE;
}

/**
 * The rest of a head whose first `have` bytes came in earlier chunks (they
 * are in C_BUF, followed by the bytes of this chunk taken so far). This
 * chunk's bytes join them a window at a time, in steps that grow, since a
 * head usually ends early in the chunk.
 */
function headCont(c: usize, have: i32): i32 {
  const n = chunkLen;
  const max = get(c, C_MAX);
  const room = max - have; // bytes of this chunk the head may still take
  const lim = n < room ? n : room;
  let got = get(c, C_BLEN) - have;
  while (got < lim) {
    if (!reach(got)) return headAsk(c, got, n - got);
    let take = (windowHi < lim ? windowHi : lim) - got;
    const step = got < 256 ? 256 : got;
    if (take > step) take = step;
    if (!bufPut(c, have + got, inputPtr() + <usize>got, take)) return fail(c, ERR_OUT_OF_MEMORY, REASON_OUT_OF_MEMORY, got, n);
    got += take;
    const r = parseHead(c, <usize>get(c, C_BUF), have + got, <i64>max);
    if (r > 0) {
      bufClear(c);
      if (headDone(c, r, -have) != OK) return FAIL;
      setCursor(r - have);
      return OK;
    }
    if (r == HEAD_BAD) return headFail(c, -have);
  }
  if (n >= room) return fail(c, ERR_FRAME_TOO_LARGE, REASON_HEAD_TOO_LARGE, room, n);
  return MORE;
}

/** Runs the chunked body from frameCursor; every byte of it is read. */
function chunkedStep(c: usize, fs: i32): i32 {
  const n = chunkLen;
  const max = get(c, C_MAX);
  let pos = frameCursor;
  while (pos < n) {
    if (!reach(pos)) {
      setCursor(pos);
      return ask(pos, grow(), 0);
    }
    const r = runChunked(c + C_CHUNK, inputPtr() + <usize>pos, windowHi - pos, <i64>max - <i64>(pos - fs));
    if (r >= 0) return pos + r - fs;
    if (r != CHUNK_MORE) {
      return fail(c, r == CHUNK_BAD ? ERR_BAD_HTTP : ERR_FRAME_TOO_LARGE, chunkReason, pos + chunkErrAt, n);
    }
    pos = windowHi;
  }
  setCursor(pos);
  return MORE;
}

/**
 * Whole requests from frameStart on, in locals, while each head ends in a copied
 * window and its Content-Length body ends inside the chunk. Stops at anything
 * else (chunked, a head not complete yet, a bad or too large request, an
 * unfinished one) for httpStep to handle from the same place, and after a
 * request that closes or upgrades the connection.
 */
export function httpRun(c: usize): void {
  const n = chunkLen;
  const input = inputPtr();
  const max = get(c, C_MAX);
  let fs = frameStart;
  let out = nextTriple;
  let count = frameCount;
  let last = get(c, C_LAST);
  let prev = get(c, C_PREV);
  while (fs < n && reach(fs)) {
    if (isEmptyLineByte(load<u8>(input + <usize>fs))) {
      // empty lines before a request line
      while (fs < windowHi && isEmptyLineByte(load<u8>(input + <usize>fs))) fs++;
      continue;
    }
    const rest = n - fs;
    let end = fs + (rest < max ? rest : max);
    if (end > windowHi) end = windowHi;
    const p = input + <usize>fs;
    const head = parseHead(c, p, end - fs, <i64>max);
    if (head <= 0 || headChunked) break;
    const total = <i64>head + headLength;
    if (total > <i64>max || total > <i64>rest) break;
    const r = <i32>total;
    const flags = headFlags;
    out = putTriple(out, fs, r, flags);
    count++;
    prev = last;
    last = r;
    fs += r;
    if (flags != 0) {
      put(c, C_PHASE, afterFlags(flags));
      break;
    }
  }
  advance(c, fs, out, count, last, prev);
}

/** The request at frameStart: its length, MORE, NEED (for its head or chunked body) or FAIL; or after an upgrade, the rest of the chunk. */
export function httpStep(c: usize): i32 {
  let phase = get(c, C_PHASE);
  if (phase == PH_RAW) {
    put(c, C_FLAGS, FLAG_RAW);
    return chunkLen - frameStart;
  }
  if (phase == PH_CLOSED) {
    chunkFrom(chunkLen);
    return MORE;
  }
  if (phase == PH_HEAD) {
    const r = frameStart >= 0 ? headFresh(c, frameStart) : headCont(c, -frameStart);
    if (r != OK) return r;
    phase = get(c, C_PHASE);
  }
  const fs = frameStart;
  if (phase == PH_BODY) {
    const total = get(c, C_NEED);
    return total <= chunkLen - fs ? total : MORE;
  }
  return chunkedStep(c, fs);
}
