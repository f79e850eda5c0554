// length framing (open_length_check): a header of C_HSIZE bytes holds the
// body's length, a package_length_type field at package_length_offset; the
// frame is package_body_offset plus that length. Only the headers are read:
// a frame's length is checked against package_max_length as soon as its
// header is known, and its body is never looked at, so a long chunk goes
// through windows (the header, and where the next ones will be if frames keep
// their size). What is kept across chunks: the bytes of a length field cut by
// a chunk's end (C_TAIL), and the frame's total length (C_NEED).
//
// `lengthRun` takes whole frames in locals; `lengthStep` takes one frame,
// cut or not, from the loop in framing.ts `run`.
import {
  ERR_FRAME_TOO_LARGE,
  ERR_BAD_LENGTH,
  REASON_LENGTH_NEGATIVE,
  REASON_LENGTH_TOO_SMALL,
  REASON_LENGTH_TOO_LARGE,
} from './status';
import { inputPtr, putTriple } from './memory';
import {
  C_LTYPE,
  C_LOFF,
  C_BOFF,
  C_MAX,
  C_HSIZE,
  C_NEED,
  C_PHASE,
  C_LAST,
  C_PREV,
  C_TAIL,
  PH_HEAD,
  PH_BODY,
  MORE,
  FAIL,
  get,
  put,
  fail,
} from './record';
import {
  chunkLen,
  frameStart,
  windowHi,
  nextTriple,
  frameCount,
  reach,
  ask,
  strideFor,
  advance,
  SMALL_LENGTH_FRAME,
  GROW,
} from './windows';

/** Bytes of a length field of pack code `t`. */
export function fieldSize(t: i32): i32 {
  if (t == 0x63 || t == 0x43) return 1; // c C
  if (t == 0x73 || t == 0x53 || t == 0x6e || t == 0x76) return 2; // s S n v
  return 4; // l L N V
}

// @ts-expect-error: decorator
@inline function readLength(p: usize, t: i32): i64 {
  switch (t) {
    case 0x63:
      return <i64>load<i8>(p); // c
    case 0x43:
      return <i64>load<u8>(p); // C
    case 0x73:
      return <i64>load<i16>(p); // s (little-endian machine order)
    case 0x53:
    case 0x76:
      return <i64>load<u16>(p); // S v
    case 0x6e:
      return <i64>bswap<u16>(load<u16>(p)); // n
    case 0x6c:
      return <i64>load<i32>(p); // l
    case 0x4e:
      return <i64>bswap<u32>(load<u32>(p)); // N
    default:
      return <i64>load<u32>(p); // L V
  }
}

/** Checks the length field at p (chunk offset `at`); returns the frame's total length, or FAIL. */
function lengthOf(c: usize, p: usize, at: i32): i32 {
  const len = readLength(p, get(c, C_LTYPE));
  if (len < 0) return fail(c, ERR_BAD_LENGTH, REASON_LENGTH_NEGATIVE, at, chunkLen);
  const total = <i64>get(c, C_BOFF) + len;
  if (total < <i64>get(c, C_HSIZE)) return fail(c, ERR_BAD_LENGTH, REASON_LENGTH_TOO_SMALL, at, chunkLen);
  if (total > <i64>get(c, C_MAX)) return fail(c, ERR_FRAME_TOO_LARGE, REASON_LENGTH_TOO_LARGE, at, chunkLen);
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
 * Whole frames from frameStart on, in locals, while each header is in a copied
 * window and the frame ends inside the chunk. Stops at anything else (an
 * unfinished or bad frame, a header not copied yet) for lengthStep to handle.
 */
export function lengthRun(c: usize): void {
  const n = chunkLen;
  const input = inputPtr();
  const hsize = get(c, C_HSIZE);
  const loff = <usize>get(c, C_LOFF);
  const ltype = get(c, C_LTYPE);
  const boff = <i64>get(c, C_BOFF);
  const max = <i64>get(c, C_MAX);
  let fs = frameStart;
  let out = nextTriple;
  let count = frameCount;
  let last = get(c, C_LAST);
  let prev = get(c, C_PREV);
  while (hsize <= n - fs && reach(fs) && fs + hsize <= windowHi) {
    const len = readLength(input + <usize>fs + loff, ltype);
    const total = boff + len;
    if (len < 0 || total < <i64>hsize || total > max || total > <i64>(n - fs)) break;
    const r = <i32>total;
    out = putTriple(out, fs, r, 0);
    count++;
    prev = last;
    last = r;
    fs += r;
  }
  advance(c, fs, out, count, last, prev);
}

/** The frame at frameStart: its length, MORE, NEED (for its header) or FAIL. */
export function lengthStep(c: usize): i32 {
  const n = chunkLen;
  const fs = frameStart;
  const hsize = get(c, C_HSIZE);
  if (fs >= 0) {
    const rest = n - fs;
    if (hsize <= rest) {
      if (!reach(fs) || fs + hsize > windowHi) return lengthAsk(c, fs, rest, hsize);
      const at = fs + get(c, C_LOFF);
      const total = lengthOf(c, inputPtr() + <usize>at, at);
      if (total < 0) return FAIL;
      if (total <= rest) return total;
      put(c, C_NEED, total);
      put(c, C_PHASE, PH_BODY);
      return MORE;
    }
    // the header is cut by the chunk's end: keep the part of the field it holds
    if (!reach(fs) || n > windowHi) return ask(fs, rest, 0);
    capture(c, inputPtr() + <usize>fs, 0, rest);
    return MORE;
  }
  const have = -fs;
  if (get(c, C_PHASE) == PH_HEAD) {
    let k = hsize - have;
    if (k > n) k = n;
    if (!reach(0) || windowHi < k) return lengthAsk(c, 0, n, k);
    capture(c, inputPtr(), have, k);
    if (have + k < hsize) return MORE;
    const total = lengthOf(c, c + C_TAIL, get(c, C_LOFF) - have);
    if (total < 0) return FAIL;
    put(c, C_NEED, total);
    put(c, C_PHASE, PH_BODY);
  }
  const total = get(c, C_NEED);
  return total - have <= n ? total : MORE;
}
