// HTTP/1.1 chunked request bodies (RFC 9112 7.1), as llhttp strict reads
// them: chunk-size [chunk-ext] CRLF, chunk-data CRLF, ..., last-chunk,
// trailer fields, CRLF. A byte-at-a-time machine whose state lives in the
// connection's record (C_CHUNK), so a body may be cut anywhere. It never
// throws: it returns a status, with a reason (status.ts REASON_*) and the
// offset of the offending byte.
import {
  REASON_BODY_TOO_LARGE,
  REASON_BARE_LF,
  REASON_BARE_CR,
  REASON_INVALID_CHUNK_SIZE,
  REASON_INVALID_CHUNK_EXT,
  REASON_BAD_CHUNK_END,
  REASON_BAD_TRAILER,
  REASON_FORBIDDEN_TRAILER,
} from './status';
import { CR, LF, SP, isT, isFieldByte, lower, hexValue } from './http_chars';

// Chunked body states (RFC 9112 7.1, as llhttp strict reads it).
const CS_SIZE_START: i32 = 0; // the first hex digit of a chunk size
const CS_SIZE: i32 = 1;
const CS_EXT_START: i32 = 2; // after ';'
const CS_EXT_NAME: i32 = 3;
const CS_EXT_VALUE: i32 = 4;
const CS_EXT_QUOTED: i32 = 5;
const CS_EXT_QPAIR: i32 = 6; // after '\' in a quoted value
const CS_EXT_QDONE: i32 = 7; // after the closing quote
const CS_SIZE_LF: i32 = 8;
const CS_DATA: i32 = 9;
const CS_DATA_CR: i32 = 10;
const CS_DATA_LF: i32 = 11;
const CS_TRAILER: i32 = 12; // a trailer line's first byte, or the final CR
const CS_TRAILER_NAME: i32 = 13;
const CS_TRAILER_VALUE: i32 = 14;
const CS_TRAILER_LF: i32 = 15;
const CS_END_LF: i32 = 16;

// Chunked results.
export const CHUNK_MORE: i32 = -1;
export const CHUNK_BAD: i32 = -2;
export const CHUNK_TOO_LARGE: i32 = -3;

// With CHUNK_BAD or CHUNK_TOO_LARGE: REASON_* and the offending byte's offset from p.
export let chunkReason: i32 = 0;
export let chunkErrAt: i32 = 0;

// Trailer fields that would change framing or the connection, refused in
// trailers: llhttp refuses the first two, and applies the other two to the
// connection, which RFC 9110 6.5.1 does not allow; this framer refuses them.
const FORBIDDEN_COUNT: i32 = 4;
// biome-ignore format: one name per row
const FORBIDDEN: usize = memory.data<u8>([
  // "content-length" "transfer-encoding" "connection" "proxy-connection", each padded to 18 bytes
  0x63,0x6f,0x6e,0x74,0x65,0x6e,0x74,0x2d,0x6c,0x65,0x6e,0x67,0x74,0x68,0,0,0,0,
  0x74,0x72,0x61,0x6e,0x73,0x66,0x65,0x72,0x2d,0x65,0x6e,0x63,0x6f,0x64,0x69,0x6e,0x67,0,
  0x63,0x6f,0x6e,0x6e,0x65,0x63,0x74,0x69,0x6f,0x6e,0,0,0,0,0,0,0,0,
  0x70,0x72,0x6f,0x78,0x79,0x2d,0x63,0x6f,0x6e,0x6e,0x65,0x63,0x74,0x69,0x6f,0x6e,0,0,
]);
const FORBIDDEN_LEN: usize = memory.data<u8>([14, 17, 10, 16]);

/**
 * One byte of a trailer name through the matcher `m` (bits 0-3: which
 * forbidden names still match; bits 8 up: bytes so far). Returns the new matcher.
 */
function trailerName(m: i32, c: u32): i32 {
  let alive = m & 15;
  const len = m >>> 8;
  for (let k = 0; k < FORBIDDEN_COUNT; k++) {
    if ((alive & (1 << k)) == 0) continue;
    if (len >= <i32>load<u8>(FORBIDDEN_LEN + <usize>k) || lower(c) != <u32>load<u8>(FORBIDDEN + <usize>(k * 18 + len))) {
      alive &= ~(1 << k);
    }
  }
  return alive | ((len < 255 ? len + 1 : len) << 8);
}

/** True when the matcher `m` ends on a whole forbidden name. */
function trailerForbidden(m: i32): bool {
  const len = m >>> 8;
  for (let k = 0; k < FORBIDDEN_COUNT; k++) {
    if ((m & (1 << k)) != 0 && len == <i32>load<u8>(FORBIDDEN_LEN + <usize>k)) return true;
  }
  return false;
}

function chunkBad(reason: i32, at: i32): i32 {
  chunkReason = reason;
  chunkErrAt = at;
  return CHUNK_BAD;
}

function chunkTooLarge(at: i32): i32 {
  chunkReason = REASON_BODY_TOO_LARGE;
  chunkErrAt = at;
  return CHUNK_TOO_LARGE;
}

/**
 * Runs the chunked-body machine over [p, p+n). `st` points at the
 * connection's (state i32, trailer matcher i32, size i64) words. `room` is
 * how many bytes, counted from p, the frame may still hold. Returns the
 * offset just past the final CRLF, or a CHUNK_* status.
 */
export function runChunked(st: usize, p: usize, n: i32, room: i64): i32 {
  let state = load<i32>(st);
  let size = load<i64>(st, 8);
  let i = 0;
  while (i < n) {
    const c = <u32>load<u8>(p + <usize>i);
    switch (state) {
      case CS_SIZE_START:
      case CS_SIZE: {
        const d = hexValue(c);
        if (d < 16) {
          size = size * 16 + <i64>d;
          if (size > room - <i64>i) return chunkTooLarge(i);
          state = CS_SIZE;
        } else if (state == CS_SIZE_START) {
          return chunkBad(REASON_INVALID_CHUNK_SIZE, i);
        } else if (c == CR) {
          state = CS_SIZE_LF;
        } else if (c == 0x3b) {
          state = CS_EXT_START;
        } else {
          // no whitespace after the size (llhttp strict)
          return chunkBad(c == LF ? REASON_BARE_LF : REASON_INVALID_CHUNK_SIZE, i);
        }
        i++;
        break;
      }
      case CS_EXT_START: {
        // llhttp: no SP after ';', and a name or value follows; an empty name is allowed
        if (c == SP || c == CR) return chunkBad(REASON_INVALID_CHUNK_EXT, i);
        state = CS_EXT_NAME;
        break; // the byte is the name's
      }
      case CS_EXT_NAME:
      case CS_EXT_VALUE: {
        if (isT(c)) {
          i++;
          break;
        }
        if (c == 0x3d && state == CS_EXT_NAME) state = CS_EXT_VALUE;
        else if (c == 0x22 && state == CS_EXT_VALUE) state = CS_EXT_QUOTED;
        else if (c == 0x3b) state = CS_EXT_START;
        else if (c == CR) state = CS_SIZE_LF;
        else return chunkBad(c == LF ? REASON_BARE_LF : REASON_INVALID_CHUNK_EXT, i);
        i++;
        break;
      }
      case CS_EXT_QUOTED: {
        if (c == 0x22) state = CS_EXT_QDONE;
        else if (c == 0x5c) state = CS_EXT_QPAIR;
        else if (!isFieldByte(c)) return chunkBad(REASON_INVALID_CHUNK_EXT, i);
        i++;
        break;
      }
      case CS_EXT_QPAIR: {
        if (!isFieldByte(c)) return chunkBad(REASON_INVALID_CHUNK_EXT, i);
        state = CS_EXT_QUOTED;
        i++;
        break;
      }
      case CS_EXT_QDONE: {
        if (c == 0x3b) state = CS_EXT_START;
        else if (c == CR) state = CS_SIZE_LF;
        else return chunkBad(c == LF ? REASON_BARE_LF : REASON_INVALID_CHUNK_EXT, i);
        i++;
        break;
      }
      case CS_SIZE_LF: {
        if (c != LF) return chunkBad(REASON_BARE_CR, i);
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
        if (c != CR) return chunkBad(c == LF ? REASON_BARE_LF : REASON_BAD_CHUNK_END, i);
        state = CS_DATA_LF;
        i++;
        break;
      }
      case CS_DATA_LF: {
        if (c != LF) return chunkBad(REASON_BARE_CR, i);
        state = CS_SIZE_START;
        i++;
        break;
      }
      case CS_TRAILER: {
        if (c == CR) {
          state = CS_END_LF;
        } else if (isT(c)) {
          store<i32>(st, trailerName(15, c), 4);
          state = CS_TRAILER_NAME;
        } else {
          return chunkBad(c == LF ? REASON_BARE_LF : REASON_BAD_TRAILER, i);
        }
        i++;
        break;
      }
      case CS_TRAILER_NAME: {
        if (isT(c)) {
          store<i32>(st, trailerName(load<i32>(st, 4), c), 4);
        } else if (c == 0x3a) {
          if (trailerForbidden(load<i32>(st, 4))) return chunkBad(REASON_FORBIDDEN_TRAILER, i);
          state = CS_TRAILER_VALUE;
        } else {
          return chunkBad(REASON_BAD_TRAILER, i);
        }
        i++;
        break;
      }
      case CS_TRAILER_VALUE: {
        if (c == CR) state = CS_TRAILER_LF;
        else if (!isFieldByte(c)) return chunkBad(c == LF ? REASON_BARE_LF : REASON_BAD_TRAILER, i);
        i++;
        break;
      }
      case CS_TRAILER_LF: {
        if (c != LF) return chunkBad(REASON_BARE_CR, i);
        state = CS_TRAILER; // a SP or HTAB next would be obs-fold: CS_TRAILER refuses it
        i++;
        break;
      }
      default: {
        // CS_END_LF
        if (c != LF) return chunkBad(REASON_BARE_CR, i);
        // this last byte counts against the limit too (the check below the switch is not reached)
        if (<i64>(i + 1) > room) return chunkTooLarge(<i32>room);
        store<i32>(st, CS_SIZE_START);
        store<i32>(st, 0, 4);
        store<i64>(st, 0, 8);
        return i + 1;
      }
    }
    // Every byte, data or not, counts against the frame's limit.
    if (<i64>i > room) return chunkTooLarge(<i32>room);
  }
  store<i32>(st, state);
  store<i64>(st, size, 8);
  return CHUNK_MORE;
}
