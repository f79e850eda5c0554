// Status codes, protocol ids and value tags shared by the WASM core and the
// TypeScript host. Both compilers read this one file, so the two sides cannot
// drift apart. Plain literals only: AssemblyScript infers i32, TypeScript number.

// Framing results written to the control block's ERR slot by `feed`.
export const OK = 0;
export const ERR_FRAME_TOO_LARGE = 1;
export const ERR_BAD_LENGTH = 2;
export const ERR_BAD_HTTP = 3;
export const ERR_BAD_PROXY_HEADER = 4;

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
// (HTTP/1.0 without keep-alive, or `Connection: close`).
export const FLAG_CLOSE = 1;

// Control block slots (i32 words) at the address `ctrl()` returns.
export const CTRL_IN_PTR = 0;
export const CTRL_IN_CAP = 1;
export const CTRL_OUT_PTR = 2;
export const CTRL_ERR = 3;
export const CTRL_SPAN_PTR = 4;
export const CTRL_STR_PTR = 5;
export const CTRL_STR_LEN = 6;
export const CTRL_TAG = 7;
export const CTRL_ARG = 8;
// slots 10..11 hold an f64 (the number of a setting read back)
export const CTRL_NUM = 10;
// PROXY protocol results of the last feed: address family and ports/addresses.
export const CTRL_PROXY = 12;
export const CTRL_WORDS = 32;

// Limits.
export const MAX_EOF_LEN = 8;
export const MAX_PACKAGE_LENGTH = 1073741824; // 1 GiB: linear memory is 4 GiB at most
export const DEFAULT_PACKAGE_MAX_LENGTH = 2097152;
