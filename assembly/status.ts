// Status codes, protocol ids and value tags shared by the WASM core and the
// TypeScript host. Both compilers read this one file, so the two sides cannot
// drift apart. Plain literals only: AssemblyScript infers i32, TypeScript number.

// Framing results written to the control block's ERR slot by `feed`.
export const OK = 0;
export const ERR_FRAME_TOO_LARGE = 1;
export const ERR_BAD_LENGTH = 2;
export const ERR_BAD_HTTP = 3;
export const ERR_BAD_PROXY_HEADER = 4;
// The core could not get linear memory for this connection's buffer (the
// worker goes on; only this connection fails).
export const ERR_OUT_OF_MEMORY = 5;

// Settings results returned by `setting_set` and `settings_load`.
export const ERR_INVALID_SETTING = 10;
export const ERR_BAD_SETTINGS_BLOB = 11;

// Values of the `protocol` setting, as stored in a connection.
export const PROTO_RAW = 0;
export const PROTO_EOF = 1;
export const PROTO_LENGTH = 2;
export const PROTO_HTTP = 3;

// Tags of a setting's value on the boundary and in the serialized store.
export const TAG_NONE = 0;
export const TAG_NUMBER = 1;
export const TAG_BOOL = 2;
export const TAG_STRING = 3;
export const TAG_JSON = 4;
export const TAG_NULL = 5;
export const TAG_BYTES = 6; // a Buffer/Uint8Array value, returned as a Buffer

// Frame flags (third word of each output triple).
// FLAG_CLOSE: an HTTP request after which the connection must close
// (HTTP/1.0 without keep-alive, or `Connection: close`); the core frames
// nothing after it (later bytes are ignored).
// FLAG_UPGRADE: an HTTP request that switches protocols (`Connection: upgrade`
// with an `Upgrade` header, or CONNECT); every later byte comes as FLAG_RAW frames.
// FLAG_RAW: bytes after an upgrade, unframed: the rest of each chunk.
export const FLAG_CLOSE = 1;
export const FLAG_UPGRADE = 2;
export const FLAG_RAW = 4;

// Why a framing error happened (CTRL_REASON after a feed with an error;
// src/errors.ts has the text). Heads over package_max_length are
// REASON_HEAD_TOO_LARGE (HTTP 431), bodies REASON_BODY_TOO_LARGE (413); every
// other http reason is a 400.
export const REASON_NONE = 0;
export const REASON_HEAD_TOO_LARGE = 1;
export const REASON_BODY_TOO_LARGE = 2;
export const REASON_BAD_METHOD = 3;
export const REASON_BAD_TARGET = 4;
export const REASON_BAD_VERSION = 5;
export const REASON_BARE_LF = 6;
export const REASON_BARE_CR = 7;
export const REASON_BAD_HEADER_NAME = 8;
export const REASON_BAD_HEADER_VALUE = 9;
export const REASON_OBS_FOLD = 10;
export const REASON_BAD_CONTENT_LENGTH = 11;
export const REASON_DUPLICATE_CONTENT_LENGTH = 12;
export const REASON_TE_AND_CL = 13;
export const REASON_BAD_TRANSFER_ENCODING = 14;
export const REASON_TE_IN_HTTP10 = 15;
export const REASON_INVALID_CHUNK_SIZE = 16;
export const REASON_INVALID_CHUNK_EXT = 17;
export const REASON_BAD_CHUNK_END = 18;
export const REASON_BAD_TRAILER = 19;
export const REASON_FORBIDDEN_TRAILER = 20;
export const REASON_EOF_TOO_LARGE = 30;
export const REASON_LENGTH_NEGATIVE = 31;
export const REASON_LENGTH_TOO_SMALL = 32;
export const REASON_LENGTH_TOO_LARGE = 33;
export const REASON_BAD_PROXY_HEADER = 34;
export const REASON_OUT_OF_MEMORY = 35;

// Control block slots (i32 words) at the address `ctrl()` returns.
export const CTRL_IN_PTR = 0;
export const CTRL_IN_CAP = 1;
export const CTRL_OUT_PTR = 2;
export const CTRL_ERR = 3;
export const CTRL_SPAN_PTR = 4; // unused since the host keeps the bytes of spanning frames
export const CTRL_STR_PTR = 5;
export const CTRL_STR_LEN = 6;
export const CTRL_TAG = 7;
export const CTRL_ARG = 8;
// slots 10..11 hold an f64 (the number of a setting read back)
export const CTRL_NUM = 10;
// PROXY protocol results of the last feed: address family and ports/addresses.
export const CTRL_PROXY = 12;
// Windows of one feed (see framing.ts): the chunk offset the core wants bytes
// from, or -1 once the feed is complete, and how many it would like from there.
export const CTRL_NEED_AT = 24;
export const CTRL_NEED_LEN = 25;
// Where the still-unfinished frame starts in the chunk just fed: n (the chunk's
// length) when there is none, a negative number when the whole chunk continues
// a frame that began earlier (minus the bytes it had before this chunk).
export const CTRL_HOLD = 26;
// A strided ask: the same NEED_LEN bytes again every NEED_STRIDE bytes after
// NEED_AT, while inside the chunk, MAX_WINDOWS windows in all (0: one window).
export const CTRL_NEED_STRIDE = 27;
// After a feed that returned ~count with CTRL_ERR set: the reason (REASON_*)
// and the offending byte's offset in the chunk just fed (negative: that many
// bytes before it; the chunk's length: the byte after it, for a limit crossed
// by a byte not yet received).
export const CTRL_REASON = 28;
export const CTRL_ERR_AT = 29;
// After a feed that returned ~count: 1 when it completed the head of a request
// with `Expect: 100-continue` whose body has not begun (the host answers
// `HTTP/1.1 100 Continue`), else 0. Set once per request.
export const CTRL_CONTINUE = 30;
// Bytes of linear memory the core holds for unfinished input across all
// connections (HTTP heads, PROXY headers): the host adds it to what it holds
// itself to enforce input_buffer_limit.
export const CTRL_HELD = 31;
export const MAX_WINDOWS = 64;
export const CTRL_WORDS = 32;

// Words of a connection record the host reads before each feed (i32 index).
// CONN_COPY: a chunk of at most this many bytes is copied whole into the input
// area up front; a longer one goes through windows. CONN_AT, CONN_LEN,
// CONN_STRIDE: the plan for such a chunk, what the core will read first (the
// next header), as a strided ask (CONN_AT -1: none); the host copies it before
// the call. CONN_SKIP: the unfinished frame's length is known and it still
// lacks this many bytes (else 0); a shorter chunk cannot end it, so the host
// keeps the chunk without a call, subtracts its length from CONN_SKIP and
// CONN_AT and adds it to CONN_HAVE, the unfinished frame's bytes so far.
// CONN_SLOT is the host's own (its index for the connection); the core
// only zeroes it.
export const CONN_COPY = 1;
export const CONN_SKIP = 2;
export const CONN_HAVE = 3;
export const CONN_AT = 4;
export const CONN_LEN = 5;
export const CONN_STRIDE = 6;
export const CONN_SLOT = 7;

// What the PROXY header of the last feed said, at CTRL_PROXY (proxy.ts).
export const PK_NONE = 0; // no header has been parsed
export const PK_ADDRESS = 1; // the client's and the balancer's addresses and ports follow
export const PK_LOCAL = 2; // v2 LOCAL or v1 UNKNOWN: use the socket's own addresses
// The longest PROXY headers: a v1 line with its CRLF, and a v2 header (16
// bytes, then at most 4096 of addresses and TLVs).
export const PROXY_V1_MAX = 107;
export const PROXY_MAX = 4112;

// The input area's least size: the core never makes it smaller, and the host
// reserves this much at start.
export const INPUT_AREA_MIN = 65536;

// Limits.
export const MAX_EOF_LEN = 8;
export const MAX_PACKAGE_LENGTH = 1073741824; // 1 GiB: linear memory is 4 GiB at most
export const DEFAULT_PACKAGE_MAX_LENGTH = 2097152;
export const DEFAULT_INPUT_BUFFER_LIMIT = 268435456; // 256 MiB of unfinished input per worker
// Linear memory the core never grows past for a connection's buffer: WASM32's
// 4 GiB (65536 pages), less room for the input and output areas.
export const MAX_MEMORY_PAGES = 65536;
export const MEMORY_HEADROOM_PAGES = 256;
