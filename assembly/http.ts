// HTTP/1.x request framing: the head parser and the chunked-body state
// machine. Neither throws: they return a status the framer turns into
// ERR_BAD_HTTP or ERR_FRAME_TOO_LARGE for that one connection.
import { FLAG_CLOSE } from "./status";

// tchar (RFC 9110 5.6.2) lookup: 1 for a token character.
const TCHAR: usize = memory.data<u8>([
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,1,0,1,1,1,1,1,0,0,1,1,0,1,1,0, 1,1,1,1,1,1,1,1,1,1,0,0,0,0,0,0,
  0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,0,0,0,1,1,
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,0,1,0,1,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
]);

// @ts-ignore: decorator
@inline function isT(c: u32): bool { return load<u8>(TCHAR + <usize>c) != 0; }
// A field-value or target byte: VCHAR, obs-text (and SP/HTAB where allowed).
// @ts-ignore: decorator
@inline function isV(c: u32): bool { return c > 0x20 && c != 0x7f; }
// @ts-ignore: decorator
@inline function lower(c: u32): u32 { return c - 0x41 < 26 ? c | 0x20 : c; }

// Head parse results.
export const HEAD_BAD: i32 = -1;
export const HEAD_TOO_LARGE: i32 = -2;

// What the head says about the body, set by parseHead.
export let headFlags: i32 = 0;
export let headChunked: bool = false;
export let headLength: i64 = 0;

/** Compares [p, p+n) case-insensitively against an ASCII-lowercase literal. */
function eqLower(p: usize, n: i32, lit: string): bool {
  if (n != lit.length) return false;
  for (let i = 0; i < n; i++) {
    if (lower(load<u8>(p + <usize>i)) != <u32>lit.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Checks a request line prefix while the head is still incomplete, so a
 * peer sending garbage is refused at once instead of after `package_max_length`
 * bytes. Looks at most at the first 64 bytes. Returns false when the bytes
 * can no longer begin a request line.
 */
export function requestPrefixOk(p: usize, n: i32): bool {
  if (n > 64) n = 64;
  let i = 0;
  while (i < n && isT(load<u8>(p + <usize>i))) i++;
  if (i == n) return i <= 32;
  if (i == 0 || i > 32 || load<u8>(p + <usize>i) != 0x20) return false;
  i++;
  while (i < n) {
    const c = <u32>load<u8>(p + <usize>i);
    if (c == 0x20) return true;
    if (!isV(c)) return false;
    i++;
  }
  return true;
}

/**
 * First address in [q, end) whose byte is not allowed in a field value
 * (VCHAR, obs-text, SP, HTAB; `target`: VCHAR, obs-text only), or `end`.
 * 16 bytes per step; a step may read up to 15 bytes past `end` when linear
 * memory allows, else the bytes are checked one by one.
 */
// @ts-ignore: decorator
@inline function skipAllowed(q: usize, end: usize, target: bool): usize {
  if (end + 16 <= (<usize>memory.size() << 16)) {
    const lo = i8x16.splat(target ? 0x21 : 0x20);
    const del = i8x16.splat(0x7f);
    const tab = i8x16.splat(0x09);
    while (q < end) {
      const v = v128.load(q);
      let bad = i8x16.lt_u(v, lo);
      if (!target) bad = v128.andnot(bad, i8x16.eq(v, tab));
      const m = i8x16.bitmask(v128.or(bad, i8x16.eq(v, del)));
      if (m != 0) {
        const r = q + <usize>ctz<i32>(m);
        return r < end ? r : end;
      }
      q += 16;
    }
    return end;
  }
  while (q < end) {
    const c = <u32>load<u8>(q);
    if (!(isV(c) || (!target && (c == 0x20 || c == 0x09)))) return q;
    q++;
  }
  return end;
}

/**
 * Parses a complete request head [p, p+n), ending in CRLF CRLF. Sets
 * headFlags, headChunked and headLength. Returns 0, HEAD_BAD, or
 * HEAD_TOO_LARGE (a Content-Length above `max`).
 */
export function parseHead(p: usize, n: i32, max: i64): i32 {
  const end = p + <usize>n;
  let q = p;
  // method SP
  while (q < end && isT(load<u8>(q))) q++;
  // at most 32 bytes, as requestPrefixOk allows: the verdict must not depend on how the head was split
  if (q == p || q - p > 32 || q >= end || load<u8>(q) != 0x20) return HEAD_BAD;
  q++;
  // request-target SP
  const t = q;
  q = skipAllowed(q, end, true);
  if (q == t || q >= end || load<u8>(q) != 0x20) return HEAD_BAD;
  q++;
  // HTTP/1.x CRLF
  if (q + 10 > end) return HEAD_BAD;
  if (load<u32>(q) != 0x50545448 /* "HTTP" */ || load<u8>(q + 4) != 0x2f || load<u8>(q + 5) != 0x31 ||
      load<u8>(q + 6) != 0x2e || load<u8>(q + 8) != 0x0d || load<u8>(q + 9) != 0x0a) return HEAD_BAD;
  const minor = <u32>load<u8>(q + 7) - 0x30;
  if (minor > 9) return HEAD_BAD;
  q += 10;

  let close = minor == 0;
  let closeToken = false; // a "close" option wins over any "keep-alive", in any order
  let chunked = false;
  let hasTE = false;
  let length: i64 = -1;
  // header-field lines, then the final CRLF
  while (true) {
    if (q + 2 > end) return HEAD_BAD;
    let c = <u32>load<u8>(q);
    if (c == 0x0d) {
      if (load<u8>(q + 1) != 0x0a || q + 2 != end) return HEAD_BAD;
      break;
    }
    const name = q;
    while (q < end && isT(load<u8>(q))) q++;
    const nameLen = <i32>(q - name);
    if (nameLen == 0 || q >= end || load<u8>(q) != 0x3a) return HEAD_BAD; // also rejects obs-fold
    q++;
    while (q < end && (load<u8>(q) == 0x20 || load<u8>(q) == 0x09)) q++;
    const v = q;
    q = skipAllowed(q, end, false);
    if (q < end && load<u8>(q) != 0x0d) return HEAD_BAD;
    let vend = q;
    while (vend > v && (load<u8>(vend - 1) == 0x20 || load<u8>(vend - 1) == 0x09)) vend--;
    if (q + 1 >= end || load<u8>(q + 1) != 0x0a) return HEAD_BAD;
    q += 2;
    const vlen = <i32>(vend - v);
    const first = lower(load<u8>(name));
    if (first == 0x63 /* c */) {
      if (eqLower(name, nameLen, "content-length")) {
        if (vlen == 0) return HEAD_BAD;
        let x: i64 = 0;
        for (let i = 0; i < vlen; i++) {
          const d = <u32>load<u8>(v + <usize>i) - 0x30;
          if (d > 9) return HEAD_BAD;
          if (x <= max) x = x * 10 + <i64>d; // stops growing once absurd
        }
        if (length >= 0 && length != x) return HEAD_BAD;
        length = x;
      } else if (eqLower(name, nameLen, "connection")) {
        // comma-separated tokens: close / keep-alive
        let i = 0;
        while (i < vlen) {
          while (i < vlen && (load<u8>(v + <usize>i) == 0x2c || load<u8>(v + <usize>i) == 0x20 || load<u8>(v + <usize>i) == 0x09)) i++;
          const s = i;
          while (i < vlen && load<u8>(v + <usize>i) != 0x2c) i++;
          let e = i;
          while (e > s && (load<u8>(v + <usize>(e - 1)) == 0x20 || load<u8>(v + <usize>(e - 1)) == 0x09)) e--;
          if (eqLower(v + <usize>s, e - s, "close")) closeToken = true;
          else if (minor == 0 && eqLower(v + <usize>s, e - s, "keep-alive")) close = false;
        }
      }
    } else if (first == 0x74 /* t */ && eqLower(name, nameLen, "transfer-encoding")) {
      hasTE = true;
      // The final coding must be chunked (RFC 9112 6.3); anything else is refused.
      let e = vlen;
      let s = e;
      while (s > 0 && load<u8>(v + <usize>(s - 1)) != 0x2c) s--;
      while (s < e && (load<u8>(v + <usize>s) == 0x20 || load<u8>(v + <usize>s) == 0x09)) s++;
      chunked = eqLower(v + <usize>s, e - s, "chunked");
      if (!chunked) return HEAD_BAD;
    }
  }
  if (hasTE && length >= 0) return HEAD_BAD; // request smuggling guard
  if (hasTE && minor == 0) return HEAD_BAD;
  headFlags = close || closeToken ? FLAG_CLOSE : 0;
  headChunked = chunked;
  headLength = length < 0 ? 0 : length;
  if (length > max) return HEAD_TOO_LARGE;
  return 0;
}

// Chunked body states.
const CS_SIZE: i32 = 0;
const CS_SIZE_MORE: i32 = 1;
const CS_EXT: i32 = 2;
const CS_SIZE_LF: i32 = 3;
const CS_DATA: i32 = 4;
const CS_DATA_CR: i32 = 5;
const CS_DATA_LF: i32 = 6;
const CS_TRAILER: i32 = 7;
const CS_TRAILER_LINE: i32 = 8;
const CS_TRAILER_LF: i32 = 9;
const CS_END_LF: i32 = 10;

// Chunked results.
export const CHUNK_MORE: i32 = -1;
export const CHUNK_BAD: i32 = -2;
export const CHUNK_TOO_LARGE: i32 = -3;

/**
 * Runs the chunked-body machine over [p, p+n). `st` points at the
 * connection's (state i32, pad i32, size i64) words. `room` is how many
 * bytes, counted from p, the frame may still hold. Returns the offset just
 * past the final CRLF, or a CHUNK_* status.
 */
export function runChunked(st: usize, p: usize, n: i32, room: i64): i32 {
  let state = load<i32>(st);
  let size = load<i64>(st, 8);
  let i = 0;
  while (i < n) {
    const c = <u32>load<u8>(p + <usize>i);
    switch (state) {
      case CS_SIZE:
      case CS_SIZE_MORE: {
        let d: u32 = 16;
        if (c - 0x30 < 10) d = c - 0x30;
        else if ((c | 0x20) - 0x61 < 6) d = (c | 0x20) - 0x61 + 10;
        if (d < 16) {
          size = size * 16 + <i64>d;
          if (size > room - <i64>i) return CHUNK_TOO_LARGE;
          state = CS_SIZE_MORE;
        } else if (state == CS_SIZE) {
          return CHUNK_BAD;
        } else if (c == 0x0d) {
          state = CS_SIZE_LF;
        } else if (c == 0x3b || c == 0x20 || c == 0x09) {
          state = CS_EXT;
        } else {
          return CHUNK_BAD;
        }
        i++;
        break;
      }
      case CS_EXT: {
        if (c == 0x0d) state = CS_SIZE_LF;
        else if (c != 0x09 && (c < 0x20 || c == 0x7f)) return CHUNK_BAD;
        i++;
        break;
      }
      case CS_SIZE_LF: {
        if (c != 0x0a) return CHUNK_BAD;
        i++;
        state = size == 0 ? CS_TRAILER : CS_DATA;
        break;
      }
      case CS_DATA: {
        let take = <i64>(n - i);
        if (take > size) take = size;
        i += <i32>take;
        size -= take;
        if (size == 0) state = CS_DATA_CR;
        break;
      }
      case CS_DATA_CR: {
        if (c != 0x0d) return CHUNK_BAD;
        state = CS_DATA_LF;
        i++;
        break;
      }
      case CS_DATA_LF: {
        if (c != 0x0a) return CHUNK_BAD;
        state = CS_SIZE;
        i++;
        break;
      }
      case CS_TRAILER: {
        if (c == 0x0d) state = CS_END_LF;
        else if (isT(c)) state = CS_TRAILER_LINE;
        else return CHUNK_BAD;
        i++;
        break;
      }
      case CS_TRAILER_LINE: {
        if (c == 0x0d) state = CS_TRAILER_LF;
        else if (c != 0x09 && (c < 0x20 || c == 0x7f)) return CHUNK_BAD;
        i++;
        break;
      }
      case CS_TRAILER_LF: {
        if (c != 0x0a) return CHUNK_BAD;
        state = CS_TRAILER;
        i++;
        break;
      }
      case CS_END_LF: {
        if (c != 0x0a) return CHUNK_BAD;
        // this last byte counts against the limit too (the check below the switch is not reached)
        if (<i64>(i + 1) > room) return CHUNK_TOO_LARGE;
        store<i32>(st, 0);
        store<i64>(st, 0, 8);
        return i + 1;
      }
      default:
        return CHUNK_BAD;
    }
    // Every byte, data or not, counts against the frame's limit.
    if (<i64>i > room) return CHUNK_TOO_LARGE;
  }
  store<i32>(st, state);
  store<i64>(st, size, 8);
  return CHUNK_MORE;
}
