// The control block, the reused input/output areas, and the SIMD searches.
// Everything here lives in linear memory allocated with `heap.*`: the core
// creates no managed objects, so `--runtime minimal` never has garbage to find.
import { CTRL_WORDS, CTRL_IN_PTR, CTRL_IN_CAP, CTRL_OUT_PTR, INPUT_AREA_MIN } from './status';

/** The control block: fixed words both sides read after every call. */
export const CTRL: usize = memory.data(CTRL_WORDS * 4, 16);

export function ctrlSet(slot: i32, v: i32): void {
  store<i32>(CTRL + ((<usize>slot) << 2), v);
}
export function ctrlGet(slot: i32): i32 {
  return load<i32>(CTRL + ((<usize>slot) << 2));
}

let inPtr: usize = 0;
let inCap: i32 = 0;
let outPtr: usize = 0;
let outCap: i32 = 0; // in triples

/** Makes the input area hold at least `n` bytes. Its contents are not kept. */
export function reserveInput(n: i32): usize {
  if (n > inCap) {
    if (inPtr) heap.free(inPtr);
    let cap = inCap < INPUT_AREA_MIN ? INPUT_AREA_MIN : inCap;
    while (cap < n) cap <<= 1;
    inPtr = heap.alloc(<usize>cap);
    inCap = cap;
    ctrlSet(CTRL_IN_PTR, <i32>inPtr);
    ctrlSet(CTRL_IN_CAP, inCap);
  }
  return inPtr;
}

export function inputPtr(): usize {
  return inPtr;
}

// A frame in the output area: (offset, length, flags), three i32 words.
const TRIPLE_SIZE: usize = 12;

/** Makes the output area hold at least `n` (offset, length, flags) triples. */
export function reserveOutput(n: i32): usize {
  if (n > outCap) {
    if (outPtr) heap.free(outPtr);
    let cap = outCap < 1024 ? 1024 : outCap;
    while (cap < n) cap <<= 1;
    outPtr = heap.alloc(<usize>cap * TRIPLE_SIZE);
    outCap = cap;
    ctrlSet(CTRL_OUT_PTR, <i32>outPtr);
  }
  return outPtr;
}

/** True when the output area holds the frames of an `n`-byte chunk whatever their size (one per byte, plus a span). */
// @ts-expect-error: decorator
@inline
export function outputFits(n: i32): bool {
  return n + 2 <= outCap;
}

export function outputPtr(): usize {
  return outPtr;
}

/** Writes a frame's triple at `out` in the output area; returns where the next one goes. */
// @ts-expect-error: decorator
@inline
export function putTriple(out: usize, offset: i32, length: i32, flags: i32): usize {
  store<i32>(out, offset);
  store<i32>(out, length, 4);
  store<i32>(out, flags, 8);
  return out + TRIPLE_SIZE;
}

// A scratch area for the cold path (setting keys and values, serialized store).
let scratchPtr: usize = 0;
let scratchCap: i32 = 0;

export function reserveScratch(n: i32): usize {
  if (n > scratchCap) {
    let cap = scratchCap < 1024 ? 1024 : scratchCap;
    while (cap < n) cap <<= 1;
    scratchPtr = scratchPtr ? heap.realloc(scratchPtr, <usize>cap) : heap.alloc(<usize>cap);
    scratchCap = cap;
  }
  return scratchPtr;
}

/**
 * Finds the first occurrence of the `len`-byte pattern `pat` (bytes packed
 * little-endian into a u64) that lies wholly inside [p, end). Returns its
 * address, or 0 when there is none. Candidates are filtered 16 bytes at a
 * time by comparing the first (up to) four pattern bytes at once; long runs
 * are skipped 64 bytes at a time; the last (< 16) starts are filtered with
 * one over-reading vector step whose bits past the range are masked off.
 */
// @ts-expect-error: decorator
@inline function cand(p: usize, v0: v128, v1: v128, v2: v128, v3: v128, len: i32): v128 {
  if (len == 1) return i8x16.eq(v128.load(p), v0);
  const m = v128.and(i8x16.eq(v128.load(p), v0), i8x16.eq(v128.load(p + 1), v1));
  if (len < 4) return m;
  return v128.and(m, v128.and(i8x16.eq(v128.load(p + 2), v2), i8x16.eq(v128.load(p + 3), v3)));
}

// @ts-expect-error: decorator
@inline function findPatternN(p: usize, end: usize, pat: u64, len: i32, n: i32): usize {
  const v0 = i8x16.splat(<i8>pat);
  const v1 = i8x16.splat(<i8>(pat >> 8));
  const v2 = i8x16.splat(<i8>(pat >> 16));
  const v3 = i8x16.splat(<i8>(pat >> 24));
  const reach = <usize>(len - 1); // bytes a match reads past its start (a filter reads n <= len)
  while (p + 64 + reach <= end) {
    const any = v128.or(
      v128.or(cand(p, v0, v1, v2, v3, n), cand(p + 16, v0, v1, v2, v3, n)),
      v128.or(cand(p + 32, v0, v1, v2, v3, n), cand(p + 48, v0, v1, v2, v3, n)),
    );
    if (!v128.any_true(any)) {
      p += 64;
      continue;
    }
    for (let k = 0; k < 4; k++) {
      let m = i8x16.bitmask(cand(p, v0, v1, v2, v3, n));
      while (m != 0) {
        const q = p + <usize>ctz<i32>(m);
        if (len == n || matchAt(q, pat, len)) return q;
        m &= m - 1;
      }
      p += 16;
    }
  }
  while (p + 16 + reach <= end) {
    let m = i8x16.bitmask(cand(p, v0, v1, v2, v3, n));
    while (m != 0) {
      const q = p + <usize>ctz<i32>(m);
      if (q + <usize>len <= end && (len == n || matchAt(q, pat, len))) return q;
      m &= m - 1;
    }
    p += 16;
  }
  if (p + <usize>len > end) return 0;
  // fewer than 16 starts left: one vector step reading past `end`, when memory allows
  if (end + 32 <= (<usize>memory.size()) << 16) {
    const starts = <i32>(end - p) - len + 1; // 1..15
    let m = i8x16.bitmask(cand(p, v0, v1, v2, v3, n)) & ((1 << starts) - 1);
    while (m != 0) {
      const q = p + <usize>ctz<i32>(m);
      if (len == n || matchAt(q, pat, len)) return q;
      m &= m - 1;
    }
    return 0;
  }
  const b0 = <u8>pat;
  while (p + <usize>len <= end) {
    if (load<u8>(p) == b0 && matchAt(p, pat, len)) return p;
    p++;
  }
  return 0;
}

/** findPattern for a 2-byte pattern (the default "\r\n"), inlined where the hot eof loop calls it. */
// @ts-expect-error: decorator
@inline
export function findPattern2(p: usize, end: usize, pat: u64): usize {
  return findPatternN(p, end, pat, 2, 2);
}

/** findPattern for a 4-byte pattern (an HTTP head's CRLF CRLF), inlined in the hot http loop. */
// @ts-expect-error: decorator
@inline
export function findPattern4(p: usize, end: usize, pat: u64): usize {
  return findPatternN(p, end, pat, 4, 4);
}

export function findPattern(p: usize, end: usize, pat: u64, len: i32): usize {
  // With 1, 2 or 4 bytes the candidate filter compares the whole pattern: no second check.
  if (len == 2) return findPatternN(p, end, pat, 2, 2);
  if (len == 4) return findPatternN(p, end, pat, 4, 4);
  if (len == 1) return findPatternN(p, end, pat, 1, 1);
  return len < 4 ? findPatternN(p, end, pat, len, 2) : findPatternN(p, end, pat, len, 4);
}

// @ts-expect-error: decorator
@inline
export function matchAt(q: usize, pat: u64, len: i32): bool {
  for (let j = 0; j < len; j++) {
    if (<u64>load<u8>(q + <usize>j) != ((pat >> ((<u64>j) << 3)) & 0xff)) return false;
  }
  return true;
}

/**
 * Looks for the pattern across a boundary: the last bytes of [a, a+alen)
 * followed by the first bytes of [b, b+blen). Only starts at or after
 * `from` (an offset into a) are tried. Returns the offset of the pattern's
 * end counted from b (1..len-1), or -1 when no straddling match exists.
 */
export function findStraddle(a: usize, alen: i32, from: i32, b: usize, blen: i32, pat: u64, len: i32): i32 {
  let s = from;
  if (s < alen - len + 1) s = alen - len + 1;
  if (s < 0) s = 0;
  for (; s < alen; s++) {
    let ok = true;
    for (let j = 0; j < len; j++) {
      const k = s + j;
      let byte: u8 = 0;
      if (k < alen) byte = load<u8>(a + <usize>k);
      else if (k - alen < blen) byte = load<u8>(b + <usize>(k - alen));
      else {
        ok = false;
        break;
      }
      if (<u64>byte != ((pat >> ((<u64>j) << 3)) & 0xff)) {
        ok = false;
        break;
      }
    }
    if (ok) return s + len - alen;
  }
  return -1;
}
