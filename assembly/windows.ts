// The chunk being fed, and the windows of it the host has copied (the
// protocol is described at the top of framing.ts). One chunk at a time per
// instance: `feed` starts it, every `feed_more` adds a window, and `stop` or
// `finish` ends it. The state lives in globals, not in the record, because it
// dies with the chunk; only what a later chunk needs goes to the record:
// CONN_HAVE, CONN_SKIP and the plan (CONN_COPY/AT/LEN/STRIDE) that `finish`
// writes, so the host copies the next chunk whole or only its next header.
//
// The steps (frame_*.ts) read the state (chunkLen, frameStart, windowHi,
// ...), find their bytes with `reach` and, when they are not there, return
// `ask(...)`; they move the state only through `setCursor`, `advance` and
// `resume`. The loop in framing.ts moves it through the chunk* functions and
// `emit`.
import {
  OK,
  PROTO_LENGTH,
  PROTO_HTTP,
  FLAG_UPGRADE,
  FLAG_RAW,
  CTRL_ERR,
  CTRL_NEED_AT,
  CTRL_NEED_LEN,
  CTRL_NEED_STRIDE,
  CTRL_HOLD,
  CTRL_REASON,
  CTRL_ERR_AT,
  CTRL_CONTINUE,
  MAX_WINDOWS,
} from './status';
import { ctrlSet, putTriple } from './memory';
import {
  C_MODE,
  C_COPY,
  C_SKIP,
  C_HAVE,
  C_AT,
  C_LEN,
  C_STRIDE,
  C_HSIZE,
  C_NEED,
  C_PHASE,
  C_FLAGS,
  C_LAST,
  C_PREV,
  C_REASON,
  C_ERRAT,
  PH_HEAD,
  PH_BODY,
  PH_CHUNKED,
  PH_RAW,
  PH_CLOSED,
  NEED,
  get,
  put,
} from './record';

// Window sizes. A chunk up to SMALL_CHUNK bytes is always copied whole.
export const ALL: i32 = 0x7fffffff;
export const SMALL_CHUNK: i32 = 2048;
export const SMALL_LENGTH_FRAME: i32 = 512; // after frames this short, length mode copies whole chunks
export const SMALL_HTTP_FRAME: i32 = 1024; // likewise for http
export const HEAD_WINDOW: i32 = 512; // first look at an HTTP head after a big frame
export const GROW: i32 = 4096; // least extension of a window that was not enough

// Caps every connection's CONN_COPY word (tests set it low to send every chunk through windows).
export let copyCap: i32 = ALL;

/** From now on, chunks longer than `n` bytes are fed through windows (for tests; the default is no cap). */
export function setCopyLimit(n: i32): void {
  copyCap = n < 0 ? 0 : n;
}

// The chunk being fed. Offsets are chunk offsets: chunk byte k is at
// inputPtr()+k once the host has copied it.
export let chunkLen: i32 = 0; // the chunk's length
export let windowLo: i32 = 0; // the copied window being read: [windowLo, windowHi)
export let windowHi: i32 = 0;
export let frameStart: i32 = 0; // where the current frame starts (negative: that many bytes before the chunk)
export let frameCursor: i32 = 0; // how far a step got inside it (the HTTP head search, a chunked body)
export let frameCount: i32 = 0; // frames written for this chunk
export let nextTriple: usize = 0; // where the next frame's triple goes in the output area
export let spanReturned: bool = false; // a frame that began in an earlier chunk was returned
// Where in the chunk the head of a request expecting 100-continue ended (-1: none).
export let continueAt: i32 = -1;
// The strided windows of the last plan or strided ask (plannedAt -1: none):
// plannedLen bytes at plannedAt and every plannedStride bytes after; and what
// the last ask wanted (askedStride 0: no stride).
let plannedAt: i32 = -1;
let plannedLen: i32 = 0;
let plannedStride: i32 = 0;
let askedLen: i32 = 0;
let askedStride: i32 = 0;

// ---------------------------------------------------------------- the loop's moves

/** A chunk of `n` bytes begins, with no frames yet (enough for `stop`). */
// @ts-expect-error: decorator
@inline
export function chunkBegin(n: i32): void {
  frameCount = 0;
  spanReturned = false;
  continueAt = -1;
  chunkLen = n;
}

/**
 * Then the rest: triples go to `out`, the first frame starts at -have (it
 * began `have` bytes ago), and the host copied [0, valid), plus the record's
 * plan when that is not the whole chunk.
 */
// @ts-expect-error: decorator
@inline
export function chunkWindows(c: usize, n: i32, valid: i32, have: i32, out: usize): void {
  nextTriple = out;
  windowLo = 0;
  windowHi = valid;
  frameStart = -have;
  frameCursor = 0;
  plannedAt = -1;
  askedStride = 0;
  if (valid < n) {
    // the host copied the plan's windows
    const at = get(c, C_AT);
    if (at >= 0 && at < n) {
      plannedAt = at;
      plannedLen = get(c, C_LEN);
      plannedStride = get(c, C_STRIDE);
    }
  }
}

/** The host copied what the last ask wanted, the first window being [at, end). */
// @ts-expect-error: decorator
@inline
export function chunkMore(at: i32, end: i32): void {
  if (askedStride > 0) {
    plannedAt = at;
    plannedLen = askedLen;
    plannedStride = askedStride;
    askedStride = 0;
    windowLo = at;
    windowHi = end;
  } else if (at == windowHi) {
    windowHi = end;
  } else {
    windowLo = at;
    windowHi = end;
  }
}

/** The first frame starts at `fs` (after a PROXY header). */
// @ts-expect-error: decorator
@inline
export function chunkFrom(fs: i32): void {
  frameStart = frameCursor = fs;
}

/**
 * Writes the frame of `r` bytes at frameStart, and moves on past it: to the next
 * frame's head, or for an HTTP request that closes or upgrades the
 * connection, to ignoring or passing on what follows.
 */
// @ts-expect-error: decorator
@inline
export function emit(c: usize, r: i32): void {
  const fs = frameStart;
  const flags = get(c, C_FLAGS);
  nextTriple = putTriple(nextTriple, fs, r, flags);
  frameCount++;
  frameStart = frameCursor = fs + r;
  if (fs < 0) spanReturned = true;
  put(c, C_PREV, get(c, C_LAST));
  put(c, C_LAST, r);
  if (flags != 0) put(c, C_PHASE, afterFlags(flags));
  else if (get(c, C_PHASE) != PH_HEAD) put(c, C_PHASE, PH_HEAD);
}

/** The phase after a frame with these (non-zero) flags: raw after an upgrade, closed after FLAG_CLOSE. */
// @ts-expect-error: decorator
@inline
export function afterFlags(flags: i32): i32 {
  return flags & (FLAG_UPGRADE | FLAG_RAW) ? PH_RAW : PH_CLOSED;
}

// ---------------------------------------------------------------- the steps' moves

/** Where a step got to inside the current frame (the HTTP head search, the chunked body). */
// @ts-expect-error: decorator
@inline
export function setCursor(cur: i32): void {
  frameCursor = cur;
}

/**
 * After a step's loop in locals (lengthRun, httpRun): if it wrote frames, the
 * next frame starts at `fs`, the output goes on at `out`, and C_LAST, C_PREV
 * are the lengths of its last two frames. Without frames, `fs` may still
 * have moved past bytes that belong to no frame (empty lines before an HTTP
 * request).
 */
// @ts-expect-error: decorator
@inline
export function advance(c: usize, fs: i32, out: usize, count: i32, last: i32, prev: i32): void {
  if (count != frameCount) {
    frameStart = frameCursor = fs;
    nextTriple = out;
    frameCount = count;
    put(c, C_LAST, last);
    put(c, C_PREV, prev);
  } else if (fs != frameStart) {
    frameStart = frameCursor = fs;
  }
}

/** The head of a request expecting 100-continue ended at chunk offset `at`, its body to come. */
// @ts-expect-error: decorator
@inline
export function expectContinue(at: i32): void {
  continueAt = at;
}

/**
 * eofWhole's locals become the chunk's state when the chunk ends inside a
 * frame: `n` bytes, `count` frames written up to `out`, the open one at `fs`.
 */
// @ts-expect-error: decorator
@inline
export function resume(n: i32, fs: i32, out: usize, count: i32): void {
  chunkLen = n;
  frameCount = count;
  nextTriple = out;
  spanReturned = false;
  frameStart = frameCursor = fs;
}

// ---------------------------------------------------------------- windows

/**
 * True when chunk offset `from` is in a window the host has copied; that
 * window becomes the current one, [windowLo, windowHi).
 */
// @ts-expect-error: decorator
@inline
export function reach(from: i32): bool {
  return (from >= windowLo && from < windowHi) || reachPlanned(from);
}

/** reach() for an offset outside the current window: one of the strided windows? */
function reachPlanned(from: i32): bool {
  const base = plannedAt;
  if (base < 0 || from < base) return false;
  let w = base;
  const stride = plannedStride;
  if (stride > 0) {
    const k = (from - base) / stride;
    if (k >= MAX_WINDOWS) return false;
    w = base + k * stride;
  }
  let e = w + plannedLen;
  if (e > chunkLen) e = chunkLen;
  if (from >= e) return false;
  windowLo = w;
  windowHi = e;
  return true;
}

/**
 * Asks the host for the chunk's bytes from `from` (`want` of them would do):
 * the part of them the window already holds is not asked again. With a
 * stride, the same bytes are asked at every stride after (predicted headers).
 */
export function ask(from: i32, want: i32, stride: i32): i32 {
  let at = from;
  if (reach(from)) {
    at = windowHi;
    stride = 0;
  }
  askedLen = from + want - at;
  askedStride = stride;
  ctrlSet(CTRL_NEED_AT, at);
  ctrlSet(CTRL_NEED_LEN, askedLen);
  ctrlSet(CTRL_NEED_STRIDE, stride);
  return NEED;
}

/** The stride to predict windows of `len` bytes at: the frame length, when the last two were equal. */
export function strideFor(c: usize, len: i32): i32 {
  const last = get(c, C_LAST);
  return last == get(c, C_PREV) && last >= len ? last : 0;
}

/** An extension for a window that was not enough: at least GROW, else doubling. */
export function grow(): i32 {
  const w = windowHi - windowLo;
  return w > GROW ? w : GROW;
}

// ---------------------------------------------------------------- the chunk's end

/**
 * Ends the chunk: where the unfinished frame starts (`hold`), its bytes so
 * far, the status. Returns the frame count when there is nothing more for the
 * host to do (no error, no unfinished frame, no spanning frame), else ~count.
 */
export function stop(c: usize, hold: i32, have: i32, err: i32): i32 {
  put(c, C_HAVE, have);
  put(c, C_SKIP, err == OK && have > 0 && get(c, C_PHASE) == PH_BODY ? get(c, C_NEED) - have : 0);
  // A clean result tells the host everything: it reads the control block only otherwise.
  if (err == OK && hold == chunkLen && !spanReturned) return frameCount;
  ctrlSet(CTRL_HOLD, hold);
  ctrlSet(CTRL_NEED_AT, -1);
  ctrlSet(CTRL_ERR, err);
  if (err != OK) {
    ctrlSet(CTRL_REASON, get(c, C_REASON));
    ctrlSet(CTRL_ERR_AT, get(c, C_ERRAT) + chunkLen);
  }
  // a head that ends the chunk leaves its frame unfinished, so this is never the clean result above
  ctrlSet(CTRL_CONTINUE, err == OK && continueAt == chunkLen ? 1 : 0);
  return ~frameCount;
}

/** Stops for bytes (CTRL_NEED_* are set). */
// @ts-expect-error: decorator
@inline
export function needMore(): i32 {
  return ~frameCount;
}

/**
 * Ends the chunk with (`open`) or without an unfinished frame, and plans the
 * next one: copied whole, or through windows starting with the next header.
 */
export function finish(c: usize, open: bool): i32 {
  const n = chunkLen;
  const have = open ? n - frameStart : 0;
  const mode = get(c, C_MODE);
  if (mode == PROTO_LENGTH || mode == PROTO_HTTP) {
    const small = get(c, C_LAST) <= (mode == PROTO_LENGTH ? SMALL_LENGTH_FRAME : SMALL_HTTP_FRAME);
    const phase = get(c, C_PHASE);
    const hwin = mode == PROTO_LENGTH ? get(c, C_HSIZE) : HEAD_WINDOW;
    let copy = small ? ALL : SMALL_CHUNK;
    let at = 0;
    let len = hwin;
    let stride = 0;
    if (phase >= PH_RAW) {
      copy = 0; // raw or ignored: the core reads nothing
      at = -1;
    } else if (have > 0 && phase == PH_BODY) {
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
  return stop(c, open ? frameStart : n, have, OK);
}
