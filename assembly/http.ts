// HTTP/1.x request heads: a resumable parser that follows llhttp in strict
// mode (node:http's parser) wherever it decides where a request ends or
// whether it is an error; README "Where the http framer differs from llhttp"
// lists the few exceptions. It never throws: it returns a status, with a
// reason (status.ts REASON_*) and the offset of the offending byte, that the
// framer (frame_http.ts) turns into ERR_BAD_HTTP or ERR_FRAME_TOO_LARGE for
// that one connection.
//
// The parser takes the head so far (contiguous) and goes on from where the
// last call stopped, its state in the connection's record, so a bad byte is
// refused as soon as it arrives, however the head is split, and no byte is
// looked at twice. Each header line's meaning (Content-Length,
// Transfer-Encoding, Connection, Upgrade, Expect) is read when its CRLF
// arrives.
import {
  FLAG_CLOSE, FLAG_UPGRADE,
  REASON_BODY_TOO_LARGE, REASON_BAD_METHOD, REASON_BAD_TARGET, REASON_BAD_VERSION,
  REASON_BARE_LF, REASON_BARE_CR, REASON_BAD_HEADER_NAME, REASON_BAD_HEADER_VALUE, REASON_OBS_FOLD,
  REASON_BAD_CONTENT_LENGTH, REASON_DUPLICATE_CONTENT_LENGTH, REASON_TE_AND_CL, REASON_BAD_TRANSFER_ENCODING,
  REASON_TE_IN_HTTP10,
} from "./status";
import { C_HPOS, C_HSTATE, C_HLINE, C_HAUX, C_HBITS, C_HCLAT, C_HCL, get, put } from "./record";
import { CR, LF, SP, isT, isServer, isAlpha, isOws, lower, eqLower, skipAllowed } from "./http_chars";

// Head parser states (C_HSTATE): the request line's parts, then header lines.
const RL_METHOD: i32 = 0;
const RL_TARGET: i32 = 1;     // the target's first byte
const RL_SCHEMA: i32 = 2;     // absolute-form: letters up to ':'
const RL_SLASH1: i32 = 3;
const RL_SLASH2: i32 = 4;
const RL_SERVER: i32 = 5;     // authority (absolute-form, or a CONNECT target)
const RL_SERVER_AT: i32 = 6;  // just after an '@' in the authority
const RL_PATH: i32 = 7;       // path, query, fragment: any VCHAR
const RL_VERSION: i32 = 8;    // C_HAUX: bytes of "HTTP/1.x\r\n" matched
const H_LINE: i32 = 9;        // a header line's first byte, or the final CR
const H_NAME: i32 = 10;
const H_VALUE: i32 = 11;      // C_HAUX: the colon's offset
const H_LF: i32 = 12;         // after a header line's CR
const H_END_LF: i32 = 13;     // after the final CR

// What the head has said so far (C_HBITS).
const B_FIELD: i32 = 1;         // a header line was read
const B_MINOR1: i32 = 2;        // HTTP/1.1 (else 1.0)
const B_CONNECT: i32 = 4;       // method CONNECT
const B_CL: i32 = 8;            // Content-Length seen
const B_TE: i32 = 16;           // Transfer-Encoding seen
const B_CHUNKED: i32 = 32;      // ... and its last coding is chunked
const B_CLOSE: i32 = 64;        // Connection: close
const B_KEEP_ALIVE: i32 = 128;  // Connection: keep-alive
const B_CONN_UPGRADE: i32 = 256; // Connection: upgrade
const B_UPGRADE: i32 = 512;     // a non-empty Upgrade header
const B_EXPECT: i32 = 1024;     // Expect: 100-continue

// "CONNECT " and "HTTP/1.0" as little-endian words.
const CONNECT_SP: u64 = 0x205443454e4e4f43;
const HTTP_1_0: u64 = 0x302e312f50545448;
const VERSION: usize = memory.data<u8>([0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]); // "HTTP/1."
const METHOD_MAX: i32 = 32;

// parseHead results: a positive result is the head's length.
export const HEAD_MORE: i32 = 0;
export const HEAD_BAD: i32 = -1;

// What a complete head says, set by parseHead when it returns a length.
export let headFlags: i32 = 0;
export let headChunked: bool = false;
export let headLength: i64 = 0;
export let headExpect: bool = false;   // answer 100 Continue before the body
export let headClAt: i32 = 0;          // where the Content-Length value starts
// With HEAD_BAD: REASON_* and the offending byte's offset in the head.
export let headReason: i32 = 0;
export let headErrAt: i32 = 0;

// The parse in progress (loaded from and saved to the record).
let hBits: i32 = 0;
let hCl: i64 = 0;
let hClAt: i32 = 0;

function bad(reason: i32, at: i32): i32 {
  headReason = reason;
  headErrAt = at;
  return HEAD_BAD;
}

/**
 * Parses the head of a request: [p, p+n) is the head so far, contiguous; the
 * parse goes on from where the last call for this head stopped (record `c`),
 * or starts when none did. Returns the head's length once its final CRLF is
 * in, HEAD_MORE when all n bytes are good so far, or HEAD_BAD (headReason,
 * headErrAt). `max` is package_max_length, for Content-Length; the caller
 * bounds n by it.
 */
export function parseHead(c: usize, p: usize, n: i32, max: i64): i32 {
  const resumed = get(c, C_HPOS);
  let q = p + <usize>resumed;
  let state = RL_METHOD;
  let line = 0;
  let aux = 0;
  if (resumed != 0) {
    state = get(c, C_HSTATE);
    line = get(c, C_HLINE);
    aux = get(c, C_HAUX);
    hBits = get(c, C_HBITS);
    hCl = load<i64>(c + C_HCL);
    hClAt = get(c, C_HCLAT);
  } else {
    hBits = 0;
    hCl = 0;
    hClAt = 0;
  }
  const end = p + <usize>n;
  while (q < end) {
    switch (state) {
      case RL_METHOD: {
        while (q < end && isT(load<u8>(q))) q++;
        const len = <i32>(q - p);
        // at most 32 bytes: a binary stream of token bytes is refused early
        if (len > METHOD_MAX) return bad(REASON_BAD_METHOD, METHOD_MAX);
        if (q == end) break;
        if (len == 0 || load<u8>(q) != SP) return bad(REASON_BAD_METHOD, len);
        if (len == 7 && load<u64>(p) == CONNECT_SP) hBits |= B_CONNECT;
        q++;
        state = RL_TARGET;
        break;
      }
      case RL_TARGET: {
        const b = <u32>load<u8>(q);
        if (hBits & B_CONNECT) {
          // authority-form (llhttp also lets a path follow)
          if (b == SP) return bad(REASON_BAD_TARGET, <i32>(q - p));
          state = RL_SERVER;
          break;
        }
        if (b == 0x2f || b == 0x2a) state = RL_PATH; // origin-form, or '*'
        else if (isAlpha(b)) state = RL_SCHEMA; // absolute-form
        else return bad(REASON_BAD_TARGET, <i32>(q - p));
        q++;
        break;
      }
      case RL_SCHEMA: {
        while (q < end && isAlpha(load<u8>(q))) q++;
        if (q == end) break;
        if (load<u8>(q) != 0x3a) return bad(REASON_BAD_TARGET, <i32>(q - p));
        q++;
        state = RL_SLASH1;
        break;
      }
      case RL_SLASH1:
      case RL_SLASH2: {
        if (load<u8>(q) != 0x2f) return bad(REASON_BAD_TARGET, <i32>(q - p));
        q++;
        state = state == RL_SLASH1 ? RL_SLASH2 : RL_SERVER;
        break;
      }
      case RL_SERVER: {
        while (q < end && isServer(load<u8>(q))) q++;
        if (q == end) break;
        const b = <u32>load<u8>(q);
        if (b == 0x40) state = RL_SERVER_AT;
        else if (b == 0x2f || b == 0x3f) state = RL_PATH;
        else if (b == SP) {
          state = RL_VERSION;
          aux = 0;
        } else return bad(REASON_BAD_TARGET, <i32>(q - p));
        q++;
        break;
      }
      case RL_SERVER_AT: {
        if (load<u8>(q) == 0x40) return bad(REASON_BAD_TARGET, <i32>(q - p)); // "@@"
        state = RL_SERVER;
        break;
      }
      case RL_PATH: {
        q = skipAllowed(q, end, true);
        if (q == end) break;
        if (load<u8>(q) != SP) return bad(REASON_BAD_TARGET, <i32>(q - p));
        q++;
        state = RL_VERSION;
        aux = 0;
        break;
      }
      case RL_VERSION: {
        if (aux == 0 && q + 10 <= end && (load<u64>(q) & 0xfeffffffffffffff) == HTTP_1_0 && load<u16>(q, 8) == 0x0a0d) {
          // the whole version and CRLF at once
          if (load<u8>(q, 7) == 0x31) hBits |= B_MINOR1;
          q += 10;
          state = H_LINE;
          break;
        }
        // byte by byte: a cut version, or where exactly it goes wrong
        const b = <u32>load<u8>(q);
        if (aux < 7) {
          if (b != <u32>load<u8>(VERSION + <usize>aux)) return bad(REASON_BAD_VERSION, <i32>(q - p));
        } else if (aux == 7) {
          if (b == 0x31) hBits |= B_MINOR1;
          else if (b != 0x30) return bad(REASON_BAD_VERSION, <i32>(q - p));
        } else if (aux == 8) {
          if (b != CR) return bad(b == LF ? REASON_BARE_LF : REASON_BAD_VERSION, <i32>(q - p));
        } else {
          if (b != LF) return bad(REASON_BARE_CR, <i32>(q - p));
          state = H_LINE;
        }
        q++;
        aux++;
        break;
      }
      case H_LINE: {
        const b = <u32>load<u8>(q);
        if (isT(b)) {
          line = <i32>(q - p);
          state = H_NAME;
        } else if (b == CR) {
          state = H_END_LF;
        } else if (b == LF) {
          return bad(REASON_BARE_LF, <i32>(q - p));
        } else if (isOws(b) && (hBits & B_FIELD)) {
          return bad(REASON_OBS_FOLD, <i32>(q - p));
        } else {
          return bad(REASON_BAD_HEADER_NAME, <i32>(q - p));
        }
        q++;
        break;
      }
      case H_NAME: {
        while (q < end && isT(load<u8>(q))) q++;
        if (q == end) break;
        if (load<u8>(q) != 0x3a) return bad(REASON_BAD_HEADER_NAME, <i32>(q - p));
        aux = <i32>(q - p);
        q++;
        state = H_VALUE;
        break;
      }
      case H_VALUE: {
        q = skipAllowed(q, end, false);
        if (q == end) break;
        const b = <u32>load<u8>(q);
        if (b != CR) return bad(b == LF ? REASON_BARE_LF : REASON_BAD_HEADER_VALUE, <i32>(q - p));
        q++;
        state = H_LF;
        break;
      }
      case H_LF: {
        if (load<u8>(q) != LF) return bad(REASON_BARE_CR, <i32>(q - p));
        const r = fieldLine(p, line, aux, <i32>(q - p) - 1, max);
        if (r != 0) {
          headReason = r;
          return HEAD_BAD;
        }
        hBits |= B_FIELD;
        q++;
        state = H_LINE;
        break;
      }
      default: {
        // H_END_LF
        if (load<u8>(q) != LF) return bad(REASON_BARE_CR, <i32>(q - p));
        if (resumed != 0) put(c, C_HPOS, 0); // the next head starts afresh
        return headEnd(<i32>(q - p) + 1);
      }
    }
  }
  // every byte so far is good: keep the state for the next call
  put(c, C_HPOS, n);
  put(c, C_HSTATE, state);
  put(c, C_HLINE, line);
  put(c, C_HAUX, aux);
  put(c, C_HBITS, hBits);
  store<i64>(c + C_HCL, hCl);
  put(c, C_HCLAT, hClAt);
  return HEAD_MORE;
}

/** The head ends here (`len` bytes): what it says about the body and the connection. */
function headEnd(len: i32): i32 {
  const bits = hBits;
  // a Transfer-Encoding whose last coding is not chunked (RFC 9112 6.3; llhttp refuses it in a request)
  if ((bits & (B_TE | B_CHUNKED)) == B_TE) return bad(REASON_BAD_TRANSFER_ENCODING, len - 2);
  const connect = (bits & B_CONNECT) != 0;
  const upgrade = connect || (bits & (B_UPGRADE | B_CONN_UPGRADE)) == (B_UPGRADE | B_CONN_UPGRADE);
  const minor1 = (bits & B_MINOR1) != 0;
  // "close" wins (RFC 9112 9.3); HTTP/1.0 closes unless "keep-alive"
  const close = (bits & B_CLOSE) != 0 || (!minor1 && (bits & B_KEEP_ALIVE) == 0);
  headFlags = (close ? FLAG_CLOSE : 0) | (upgrade ? FLAG_UPGRADE : 0);
  // a CONNECT request has no body: the tunnel starts right after the head (as llhttp)
  headChunked = !connect && (bits & B_CHUNKED) != 0;
  headLength = connect || (bits & B_CL) == 0 ? 0 : hCl;
  headClAt = hClAt;
  headExpect = (bits & B_EXPECT) != 0 && minor1 && (headChunked || headLength > 0);
  return len;
}

// The header fields the parser reads (fieldKind).
const F_NONE: i32 = 0;
const F_CONTENT_LENGTH: i32 = 1;
const F_TRANSFER_ENCODING: i32 = 2;
const F_CONNECTION: i32 = 3; // and Proxy-Connection, which llhttp reads as Connection
const F_UPGRADE: i32 = 4;
const F_EXPECT: i32 = 5;

/**
 * Which of the fields above the name [name, name+n) is. A name is tchars, so
 * OR-ing 0x20 lowercases its letters and turns no other tchar into a letter
 * or '-': whole words compare case-insensitively at once.
 */
// @ts-ignore: decorator
@inline function fieldKind(name: usize, n: i32): i32 {
  switch (n) {
    case 6:
      return (load<u32>(name) | 0x20202020) == 0x65707865 && (load<u16>(name, 4) | 0x2020) == 0x7463 ? F_EXPECT : F_NONE;
    case 7:
      return (load<u32>(name) | 0x20202020) == 0x72677075 && (load<u16>(name, 4) | 0x2020) == 0x6461 &&
        (load<u8>(name, 6) | 0x20) == 0x65 ? F_UPGRADE : F_NONE;
    case 10:
      return (load<u64>(name) | LOWER8) == 0x697463656e6e6f63 && (load<u16>(name, 8) | 0x2020) == 0x6e6f ? F_CONNECTION : F_NONE;
    case 14:
      return (load<u64>(name) | LOWER8) == 0x2d746e65746e6f63 && (load<u32>(name, 8) | 0x20202020) == 0x676e656c &&
        (load<u16>(name, 12) | 0x2020) == 0x6874 ? F_CONTENT_LENGTH : F_NONE;
    case 16:
      return (load<u64>(name) | LOWER8) == 0x6f632d79786f7270 && (load<u64>(name, 8) | LOWER8) == 0x6e6f697463656e6e
        ? F_CONNECTION : F_NONE;
    case 17:
      return (load<u64>(name) | LOWER8) == 0x726566736e617274 && (load<u64>(name, 8) | LOWER8) == 0x6e69646f636e652d &&
        (load<u8>(name, 16) | 0x20) == 0x67 ? F_TRANSFER_ENCODING : F_NONE;
    default:
      return F_NONE;
  }
}
const LOWER8: u64 = 0x2020202020202020;

/**
 * A complete header line: name [line, colon), value (colon, cr). Reads the
 * fields that frame the request or steer the connection. Returns 0 or a
 * reason (headErrAt set).
 */
// @ts-ignore: decorator
@inline function fieldLine(p: usize, line: i32, colon: i32, cr: i32, max: i64): i32 {
  const kind = fieldKind(p + <usize>line, colon - line);
  if (kind == F_NONE) return 0;
  return specialField(kind, p, line, colon, cr, max);
}

/** fieldLine for the fields that matter: the value, without its surrounding whitespace, is [v, e). */
function specialField(kind: i32, p: usize, line: i32, colon: i32, cr: i32, max: i64): i32 {
  let v = colon + 1;
  while (v < cr && isOws(load<u8>(p + <usize>v))) v++;
  let e = cr;
  while (e > v && isOws(load<u8>(p + <usize>(e - 1)))) e--;
  switch (kind) {
    case F_CONTENT_LENGTH:
      return contentLength(p, line, v, e, max);
    case F_TRANSFER_ENCODING:
      return transferEncoding(p, line, v, e, cr);
    case F_CONNECTION:
      connection(p, v, e);
      return 0;
    case F_UPGRADE:
      if (e > v) hBits |= B_UPGRADE;
      return 0;
    default:
      if (hasToken(p, v, e, "100-continue")) hBits |= B_EXPECT;
      return 0;
  }
}

function contentLength(p: usize, line: i32, v: i32, e: i32, max: i64): i32 {
  // any second Content-Length, even an equal one, is an error (llhttp)
  if (hBits & B_CL) return reasonAt(REASON_DUPLICATE_CONTENT_LENGTH, line);
  if (hBits & B_TE) return reasonAt(REASON_TE_AND_CL, line);
  if (e == v) return reasonAt(REASON_BAD_CONTENT_LENGTH, v);
  let x: i64 = 0;
  for (let i = v; i < e; i++) {
    const d = <u32>load<u8>(p + <usize>i) - 0x30;
    if (d > 9) return reasonAt(REASON_BAD_CONTENT_LENGTH, i);
    if (x <= max) x = x * 10 + <i64>d; // stops growing once absurd
  }
  hBits |= B_CL;
  hCl = x;
  hClAt = v;
  // known now: refuse at once (a CONNECT body is not framed, so its length does not matter)
  if (x > max && (hBits & B_CONNECT) == 0) return reasonAt(REASON_BODY_TOO_LARGE, v);
  return 0;
}

/**
 * Transfer-Encoding: a list whose codings add to those of earlier
 * Transfer-Encoding lines (RFC 9110 5.3); chunked must be the last one, and
 * nothing may follow it, in this line or a later one. As llhttp: a coding is
 * chunked when it reads "chunked" followed by spaces only (so not by a tab).
 */
function transferEncoding(p: usize, line: i32, v: i32, e: i32, cr: i32): i32 {
  if (hBits & B_CL) return reasonAt(REASON_TE_AND_CL, line);
  if (hBits & B_CHUNKED) return reasonAt(REASON_BAD_TRANSFER_ENCODING, v);
  // RFC 9112 6.1: faulty framing in HTTP/1.0
  if ((hBits & B_MINOR1) == 0) return reasonAt(REASON_TE_IN_HTTP10, line);
  if (e == v) return reasonAt(REASON_BAD_TRANSFER_ENCODING, v);
  hBits |= B_TE;
  let i = v;
  let chunked = false;
  while (true) {
    while (i < cr && isOws(load<u8>(p + <usize>i))) i++;
    const s = i;
    while (i < cr && load<u8>(p + <usize>i) != 0x2c) i++;
    chunked = isChunked(p + <usize>s, i - s);
    if (i >= cr) break;
    if (chunked) return reasonAt(REASON_BAD_TRANSFER_ENCODING, i);
    i++;
  }
  if (chunked) hBits |= B_CHUNKED;
  return 0;
}

/** "chunked", case-insensitive, followed by spaces only. */
function isChunked(q: usize, n: i32): bool {
  if (n < 7 || !eqLower(q, 7, "chunked")) return false;
  for (let i = 7; i < n; i++) if (load<u8>(q + <usize>i) != SP) return false;
  return true;
}

/** Connection (and Proxy-Connection): the close, keep-alive and upgrade options of a comma list. */
function connection(p: usize, v: i32, e: i32): void {
  let i = v;
  while (i < e) {
    while (i < e && isOws(load<u8>(p + <usize>i))) i++;
    const s = i;
    while (i < e && load<u8>(p + <usize>i) != 0x2c) i++;
    let t = i;
    while (t > s && isOws(load<u8>(p + <usize>(t - 1)))) t--;
    const q = p + <usize>s;
    const len = t - s;
    if (eqLower(q, len, "close")) hBits |= B_CLOSE;
    else if (eqLower(q, len, "keep-alive")) hBits |= B_KEEP_ALIVE;
    else if (eqLower(q, len, "upgrade")) hBits |= B_CONN_UPGRADE;
    i++;
  }
}

/** True when the comma list [v, e) holds the token `lit` (lowercase), case-insensitively. */
function hasToken(p: usize, v: i32, e: i32, lit: string): bool {
  let i = v;
  while (i < e) {
    while (i < e && isOws(load<u8>(p + <usize>i))) i++;
    const s = i;
    while (i < e && load<u8>(p + <usize>i) != 0x2c) i++;
    let t = i;
    while (t > s && isOws(load<u8>(p + <usize>(t - 1)))) t--;
    if (eqLower(p + <usize>s, t - s, lit)) return true;
    i++;
  }
  return false;
}

function reasonAt(reason: i32, at: i32): i32 {
  headErrAt = at;
  return reason;
}

