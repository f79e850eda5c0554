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
// looked at twice. Each header line's meaning is read when its CRLF arrives,
// by http_fields.ts.
import {
  FLAG_CLOSE,
  FLAG_UPGRADE,
  REASON_BAD_METHOD,
  REASON_BAD_TARGET,
  REASON_BAD_VERSION,
  REASON_BARE_LF,
  REASON_BARE_CR,
  REASON_BAD_HEADER_NAME,
  REASON_BAD_HEADER_VALUE,
  REASON_OBS_FOLD,
  REASON_BAD_TRANSFER_ENCODING,
} from './status';
import { C_HPOS, C_HSTATE, C_HLINE, C_HAUX, get, put } from './record';
import { CR, LF, SP, isT, isServer, isAlpha, isOws, skipAllowed } from './http_chars';
import {
  B_FIELD,
  B_MINOR1,
  B_CONNECT,
  B_CL,
  B_TE,
  B_CHUNKED,
  B_CLOSE,
  B_KEEP_ALIVE,
  B_CONN_UPGRADE,
  B_UPGRADE,
  B_EXPECT,
  headBits,
  contentLength,
  contentLengthAt,
  fieldErrAt,
  fieldsBegin,
  fieldsResume,
  fieldsSave,
  headSaid,
  fieldLine,
} from './http_fields';

// Head parser states (C_HSTATE): the request line's parts, then header lines.
const RL_METHOD: i32 = 0;
const RL_TARGET: i32 = 1; // the target's first byte
const RL_SCHEMA: i32 = 2; // absolute-form: letters up to ':'
const RL_SLASH1: i32 = 3;
const RL_SLASH2: i32 = 4;
const RL_SERVER: i32 = 5; // authority (absolute-form, or a CONNECT target)
const RL_SERVER_AT: i32 = 6; // just after an '@' in the authority
const RL_PATH: i32 = 7; // path, query, fragment: any VCHAR
const RL_VERSION: i32 = 8; // C_HAUX: bytes of "HTTP/1.x\r\n" matched
const H_LINE: i32 = 9; // a header line's first byte, or the final CR
const H_NAME: i32 = 10;
const H_VALUE: i32 = 11; // C_HAUX: the colon's offset
const H_LF: i32 = 12; // after a header line's CR
const H_END_LF: i32 = 13; // after the final CR

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
export let headExpect: bool = false; // answer 100 Continue before the body
export let headClAt: i32 = 0; // where the Content-Length value starts
// With HEAD_BAD: REASON_* and the offending byte's offset in the head.
export let headReason: i32 = 0;
export let headErrAt: i32 = 0;

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
    fieldsResume(c);
  } else {
    fieldsBegin();
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
        if (len == 7 && load<u64>(p) == CONNECT_SP) headSaid(B_CONNECT);
        q++;
        state = RL_TARGET;
        break;
      }
      case RL_TARGET: {
        const b = <u32>load<u8>(q);
        if (headBits & B_CONNECT) {
          // authority-form (llhttp also lets a path follow)
          if (b == SP) return bad(REASON_BAD_TARGET, <i32>(q - p));
          state = RL_SERVER;
          break;
        }
        if (b == 0x2f || b == 0x2a)
          state = RL_PATH; // origin-form, or '*'
        else if (isAlpha(b))
          state = RL_SCHEMA; // absolute-form
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
          if (load<u8>(q, 7) == 0x31) headSaid(B_MINOR1);
          q += 10;
          state = H_LINE;
          break;
        }
        // byte by byte: a cut version, or where exactly it goes wrong
        const b = <u32>load<u8>(q);
        if (aux < 7) {
          if (b != <u32>load<u8>(VERSION + <usize>aux)) return bad(REASON_BAD_VERSION, <i32>(q - p));
        } else if (aux == 7) {
          if (b == 0x31) headSaid(B_MINOR1);
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
        } else if (isOws(b) && headBits & B_FIELD) {
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
        if (r != 0) return bad(r, fieldErrAt);
        headSaid(B_FIELD);
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
  fieldsSave(c);
  return HEAD_MORE;
}

/** The head ends here (`len` bytes): what it says about the body and the connection. */
function headEnd(len: i32): i32 {
  const bits = headBits;
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
  headLength = connect || (bits & B_CL) == 0 ? 0 : contentLength;
  headClAt = contentLengthAt;
  headExpect = (bits & B_EXPECT) != 0 && minor1 && (headChunked || headLength > 0);
  return len;
}
