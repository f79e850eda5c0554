// What the header fields of an HTTP/1.x request head say (http.ts parseHead
// hands over each complete header line): the fields that frame the request
// or steer its connection (Content-Length, Transfer-Encoding, Connection and
// Proxy-Connection, Upgrade, Expect), read as llhttp strict reads them, and
// what the head has said so far (its bits and Content-Length), kept in the
// connection's record while the head is unfinished. A field that makes the
// request unframeable is refused with a reason (status.ts REASON_*) and the
// offending byte's offset.
import {
  REASON_BODY_TOO_LARGE,
  REASON_BAD_CONTENT_LENGTH,
  REASON_DUPLICATE_CONTENT_LENGTH,
  REASON_TE_AND_CL,
  REASON_BAD_TRANSFER_ENCODING,
  REASON_TE_IN_HTTP10,
} from './status';
import { C_HBITS, C_HCL, C_HCLAT, get, put } from './record';
import { SP, isOws, eqLower } from './http_chars';

// What the head has said so far (headBits).
export const B_FIELD: i32 = 1; // a header line was read
export const B_MINOR1: i32 = 2; // HTTP/1.1 (else 1.0)
export const B_CONNECT: i32 = 4; // method CONNECT
export const B_CL: i32 = 8; // Content-Length seen
export const B_TE: i32 = 16; // Transfer-Encoding seen
export const B_CHUNKED: i32 = 32; // ... and its last coding is chunked
export const B_CLOSE: i32 = 64; // Connection: close
export const B_KEEP_ALIVE: i32 = 128; // Connection: keep-alive
export const B_CONN_UPGRADE: i32 = 256; // Connection: upgrade
export const B_UPGRADE: i32 = 512; // a non-empty Upgrade header
export const B_EXPECT: i32 = 1024; // Expect: 100-continue

// The head being parsed: what it has said, its Content-Length (with B_CL)
// and where that value starts in the head.
export let headBits: i32 = 0;
export let contentLength: i64 = 0;
export let contentLengthAt: i32 = 0;
// With a refused field: the offending byte's offset in the head.
export let fieldErrAt: i32 = 0;

/** A new head: nothing said yet. */
// @ts-expect-error: decorator
@inline export function fieldsBegin(): void {
  headBits = 0;
  contentLength = 0;
  contentLengthAt = 0;
}

/** A head resumed: what record `c` kept of it. */
// @ts-expect-error: decorator
@inline export function fieldsResume(c: usize): void {
  headBits = get(c, C_HBITS);
  contentLength = load<i64>(c + C_HCL);
  contentLengthAt = get(c, C_HCLAT);
}

/** Keeps what the unfinished head has said in record `c`. */
// @ts-expect-error: decorator
@inline export function fieldsSave(c: usize): void {
  put(c, C_HBITS, headBits);
  store<i64>(c + C_HCL, contentLength);
  put(c, C_HCLAT, contentLengthAt);
}

/** The request line or the head's shape said `bit` (B_CONNECT, B_MINOR1, B_FIELD). */
// @ts-expect-error: decorator
@inline export function headSaid(bit: i32): void {
  headBits |= bit;
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
// @ts-expect-error: decorator
@inline function fieldKind(name: usize, n: i32): i32 {
  switch (n) {
    case 6:
      return (load<u32>(name) | 0x20202020) == 0x65707865 && (load<u16>(name, 4) | 0x2020) == 0x7463 ? F_EXPECT : F_NONE;
    case 7:
      return (load<u32>(name) | 0x20202020) == 0x72677075 &&
        (load<u16>(name, 4) | 0x2020) == 0x6461 &&
        (load<u8>(name, 6) | 0x20) == 0x65
        ? F_UPGRADE
        : F_NONE;
    case 10:
      return (load<u64>(name) | LOWER8) == 0x697463656e6e6f63 && (load<u16>(name, 8) | 0x2020) == 0x6e6f ? F_CONNECTION : F_NONE;
    case 14:
      return (load<u64>(name) | LOWER8) == 0x2d746e65746e6f63 &&
        (load<u32>(name, 8) | 0x20202020) == 0x676e656c &&
        (load<u16>(name, 12) | 0x2020) == 0x6874
        ? F_CONTENT_LENGTH
        : F_NONE;
    case 16:
      return (load<u64>(name) | LOWER8) == 0x6f632d79786f7270 && (load<u64>(name, 8) | LOWER8) == 0x6e6f697463656e6e
        ? F_CONNECTION
        : F_NONE;
    case 17:
      return (load<u64>(name) | LOWER8) == 0x726566736e617274 &&
        (load<u64>(name, 8) | LOWER8) == 0x6e69646f636e652d &&
        (load<u8>(name, 16) | 0x20) == 0x67
        ? F_TRANSFER_ENCODING
        : F_NONE;
    default:
      return F_NONE;
  }
}
const LOWER8: u64 = 0x2020202020202020;

/**
 * A complete header line: name [line, colon), value (colon, cr). Reads the
 * fields that frame the request or steer the connection. Returns 0 or a
 * reason (fieldErrAt set).
 */
// @ts-expect-error: decorator
@inline export function fieldLine(p: usize, line: i32, colon: i32, cr: i32, max: i64): i32 {
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
      return readContentLength(p, line, v, e, max);
    case F_TRANSFER_ENCODING:
      return transferEncoding(p, line, v, e, cr);
    case F_CONNECTION:
      connection(p, v, e);
      return 0;
    case F_UPGRADE:
      if (e > v) headBits |= B_UPGRADE;
      return 0;
    default:
      if (hasToken(p, v, e, '100-continue')) headBits |= B_EXPECT;
      return 0;
  }
}

function readContentLength(p: usize, line: i32, v: i32, e: i32, max: i64): i32 {
  // any second Content-Length, even an equal one, is an error (llhttp)
  if (headBits & B_CL) return reasonAt(REASON_DUPLICATE_CONTENT_LENGTH, line);
  if (headBits & B_TE) return reasonAt(REASON_TE_AND_CL, line);
  if (e == v) return reasonAt(REASON_BAD_CONTENT_LENGTH, v);
  let x: i64 = 0;
  for (let i = v; i < e; i++) {
    const d = <u32>load<u8>(p + <usize>i) - 0x30;
    if (d > 9) return reasonAt(REASON_BAD_CONTENT_LENGTH, i);
    if (x <= max) x = x * 10 + <i64>d; // stops growing once absurd
  }
  headBits |= B_CL;
  contentLength = x;
  contentLengthAt = v;
  // known now: refuse at once (a CONNECT body is not framed, so its length does not matter)
  if (x > max && (headBits & B_CONNECT) == 0) return reasonAt(REASON_BODY_TOO_LARGE, v);
  return 0;
}

/**
 * Transfer-Encoding: a list whose codings add to those of earlier
 * Transfer-Encoding lines (RFC 9110 5.3); chunked must be the last one, and
 * nothing may follow it, in this line or a later one. As llhttp: a coding is
 * chunked when it reads "chunked" followed by spaces only (so not by a tab).
 */
function transferEncoding(p: usize, line: i32, v: i32, e: i32, cr: i32): i32 {
  if (headBits & B_CL) return reasonAt(REASON_TE_AND_CL, line);
  if (headBits & B_CHUNKED) return reasonAt(REASON_BAD_TRANSFER_ENCODING, v);
  // RFC 9112 6.1: faulty framing in HTTP/1.0
  if ((headBits & B_MINOR1) == 0) return reasonAt(REASON_TE_IN_HTTP10, line);
  if (e == v) return reasonAt(REASON_BAD_TRANSFER_ENCODING, v);
  headBits |= B_TE;
  let i = v;
  let chunked: bool = false;
  while (true) {
    while (i < cr && isOws(load<u8>(p + <usize>i))) i++;
    const s = i;
    while (i < cr && load<u8>(p + <usize>i) != 0x2c) i++;
    chunked = isChunked(p + <usize>s, i - s);
    if (i >= cr) break;
    if (chunked) return reasonAt(REASON_BAD_TRANSFER_ENCODING, i);
    i++;
  }
  if (chunked) headBits |= B_CHUNKED;
  return 0;
}

/** "chunked", case-insensitive, followed by spaces only. */
function isChunked(q: usize, n: i32): bool {
  if (n < 7 || !eqLower(q, 7, 'chunked')) return false;
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
    if (eqLower(q, len, 'close')) headBits |= B_CLOSE;
    else if (eqLower(q, len, 'keep-alive')) headBits |= B_KEEP_ALIVE;
    else if (eqLower(q, len, 'upgrade')) headBits |= B_CONN_UPGRADE;
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
  fieldErrAt = at;
  return reason;
}
