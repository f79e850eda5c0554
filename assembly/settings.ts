// The settings store. Known keys carry a schema (kind, range, default) and
// are validated here; unknown keys are kept as given, as php-server does.
// Keys and values cross the boundary as UTF-8 bytes with a TAG_* tag.
import {
  OK, ERR_INVALID_SETTING, ERR_BAD_SETTINGS_BLOB,
  PROTO_RAW, PROTO_EOF, PROTO_LENGTH, PROTO_HTTP,
  TAG_NONE, TAG_NUMBER, TAG_BOOL, TAG_STRING, TAG_NULL, TAG_JSON, TAG_BYTES,
  CTRL_STR_PTR, CTRL_STR_LEN, CTRL_TAG, CTRL_ARG, CTRL_NUM,
  MAX_EOF_LEN, MAX_PACKAGE_LENGTH, DEFAULT_PACKAGE_MAX_LENGTH, DEFAULT_INPUT_BUFFER_LIMIT,
} from "./status";
import { CTRL, ctrlSet, reserveScratch } from "./memory";

// Schema kinds.
const K_UNKNOWN: i32 = 0;
const K_INT: i32 = 1;    // an integer in [min, max]
const K_NUM: i32 = 2;    // a finite number in [min, max]
const K_BOOL: i32 = 3;
const K_STR: i32 = 4;    // a string of min..max UTF-8 bytes
const K_ENUM: i32 = 5;   // one of the '|'-separated choices

// Entry layout (48 bytes).
const E_KEY: usize = 0;       // u32 ptr to UTF-8 key
const E_KEYLEN: usize = 4;
const E_TAG: usize = 8;
const E_KIND: usize = 12;
const E_NUM: usize = 16;      // f64
const E_STR: usize = 24;      // u32 ptr to UTF-8 value
const E_STRLEN: usize = 28;
const E_SIZE: usize = 48;

let entries: usize = 0;
let count: i32 = 0;
let capacity: i32 = 0;
let known: i32 = 0;

// Per known key, static text: the choices of an enum and what is allowed.
let choicesTab: usize = 0; // u32 ptr (static string) per known key
let allowedTab: usize = 0; // u32 ptr (heap UTF-8) per known key, len in the next word
let rangeTab: usize = 0;   // f64 min, f64 max per known key

function entry(i: i32): usize {
  return entries + <usize>i * E_SIZE;
}

function grow(): void {
  if (count < capacity) return;
  capacity = capacity == 0 ? 64 : capacity * 2;
  entries = entries ? heap.realloc(entries, <usize>capacity * E_SIZE) : heap.alloc(<usize>capacity * E_SIZE);
  choicesTab = choicesTab ? heap.realloc(choicesTab, <usize>capacity * 4) : heap.alloc(<usize>capacity * 4);
  allowedTab = allowedTab ? heap.realloc(allowedTab, <usize>capacity * 8) : heap.alloc(<usize>capacity * 8);
  rangeTab = rangeTab ? heap.realloc(rangeTab, <usize>capacity * 16) : heap.alloc(<usize>capacity * 16);
}

/** Copies an ASCII literal into fresh heap bytes. */
function ascii(s: string): usize {
  const n = s.length;
  const p = heap.alloc(n > 0 ? <usize>n : 1);
  for (let i = 0; i < n; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
  return p;
}

function copyBytes(src: usize, n: i32): usize {
  const p = heap.alloc(n > 0 ? <usize>n : 1);
  memory.copy(p, src, <usize>n);
  return p;
}

// @ts-ignore: decorator
@inline function hasBytes(tag: i32): bool {
  return tag == TAG_STRING || tag == TAG_JSON || tag == TAG_BYTES;
}

function setValue(e: usize, tag: i32, num: f64, src: usize, len: i32): void {
  const old = <usize>load<u32>(e + E_STR);
  if (old) heap.free(old);
  store<i32>(e + E_TAG, tag);
  store<f64>(e + E_NUM, num);
  if (hasBytes(tag)) {
    store<u32>(e + E_STR, <u32>copyBytes(src, len));
    store<i32>(e + E_STRLEN, len);
  } else {
    store<u32>(e + E_STR, 0);
    store<i32>(e + E_STRLEN, 0);
  }
}

function def(name: string, kind: i32, min: f64, max: f64, num: f64, str: string, choices: string, allowed: string): void {
  grow();
  const e = entry(count);
  memory.fill(e, 0, E_SIZE);
  store<u32>(e + E_KEY, <u32>ascii(name));
  store<i32>(e + E_KEYLEN, name.length);
  store<i32>(e + E_KIND, kind);
  store<u32>(choicesTab + <usize>count * 4, <u32>changetype<usize>(choices));
  store<u32>(allowedTab + <usize>count * 8, <u32>ascii(allowed));
  store<i32>(allowedTab + <usize>count * 8 + 4, allowed.length);
  store<f64>(rangeTab + <usize>count * 16, min);
  store<f64>(rangeTab + <usize>count * 16 + 8, max);
  if (kind == K_STR || kind == K_ENUM) {
    const p = ascii(str);
    setValue(e, TAG_STRING, 0, p, str.length);
    heap.free(p);
  } else if (kind == K_BOOL) {
    setValue(e, TAG_BOOL, num, 0, 0);
  } else {
    setValue(e, TAG_NUMBER, num, 0, 0);
  }
  count++;
}

// Known keys. Their indices are fixed; the framing config reads them directly.
const S_IP = 0;
const S_PORT = 1;
const S_PROTOCOL = 2;
const S_EOF = 3;
const S_LTYPE = 4;
const S_LOFF = 5;
const S_BOFF = 6;
const S_MAXLEN = 7;
let S_PROXY = -1;

const U31: f64 = 2147483647;
const U53: f64 = 9007199254740991;

function defineSchema(): void {
  def("ip", K_STR, 0, 255, 0, "0.0.0.0", "", "an IPv4 or IPv6 address");
  def("port", K_INT, 0, 65535, 0, "", "", "an integer from 0 to 65535");
  def("protocol", K_ENUM, 0, 0, 0, "raw", "raw|eof|length|http", "one of raw, eof, length, http");
  def("package_eof", K_STR, 1, MAX_EOF_LEN, 0, "\r\n", "", "a string of 1 to 8 bytes");
  def("package_length_type", K_ENUM, 0, 0, 0, "N", "c|C|s|S|n|v|l|L|N|V", "one of the pack codes c, C, s, S, n, v, l, L, N, V");
  def("package_length_offset", K_INT, 0, 65535, 0, "", "", "an integer from 0 to 65535");
  def("package_body_offset", K_INT, 0, 65535, 4, "", "", "an integer from 0 to 65535");
  def("package_max_length", K_INT, 1, MAX_PACKAGE_LENGTH, DEFAULT_PACKAGE_MAX_LENGTH, "", "", "an integer from 1 to 1073741824");
  def("process_number", K_INT, 1, 1024, 1, "", "", "an integer from 1 to 1024");
  def("master_name", K_STR, 0, 1024, 0, "tcp-prefork master", "", "a string of at most 1024 bytes");
  def("worker_name", K_STR, 0, 1024, 0, "tcp-prefork worker", "", "a string of at most 1024 bytes");
  def("max_wait_time", K_NUM, 0, 86400, 3, "", "", "a number of seconds from 0 to 86400");
  def("dispatch_mode", K_ENUM, 0, 0, 0, "hybrid", "shared|round_robin|hybrid", "one of shared, round_robin, hybrid");
  def("max_conn", K_INT, 1, U31, 1024, "", "", "an integer from 1 to 2147483647");
  def("heartbeat_idle_time", K_NUM, 0, 86400, 0, "", "", "a number of seconds from 0 (off) to 86400");
  def("socket_buffer_size", K_INT, 1, U31, 2097152, "", "", "an integer from 1 to 2147483647");
  def("max_request", K_INT, 0, U31, 0, "", "", "an integer from 0 (off) to 2147483647");
  def("backlog", K_INT, 1, 65535, 511, "", "", "an integer from 1 to 65535");
  def("pid_file", K_STR, 0, 4096, 0, "", "", "a path of at most 4096 bytes");
  S_PROXY = count;
  def("proxy_protocol", K_BOOL, 0, 0, 0, "", "", "a boolean");
  def("ssl_cert_file", K_STR, 0, 4096, 0, "", "", "a path of at most 4096 bytes");
  def("ssl_key_file", K_STR, 0, 4096, 0, "", "", "a path of at most 4096 bytes");
  def("log_level", K_ENUM, 0, 0, 0, "info", "info|error|silent", "one of info, error, silent");
  def("input_buffer_limit", K_INT, 0, U53, DEFAULT_INPUT_BUFFER_LIMIT, "", "", "an integer from 0 (off) to 9007199254740991");
  def("http_auto_continue", K_BOOL, 0, 0, 1, "", "", "a boolean");
  def("http_error_replies", K_BOOL, 0, 0, 1, "", "", "a boolean");
  known = count;
}

// Framing config derived from the store, refreshed on every change.
let protocol: i32 = PROTO_RAW;
let eofPat: u64 = 0x0a0d;
let eofLen: i32 = 2;
let lengthType: i32 = 0x4e;
let lengthOffset: i32 = 0;
let bodyOffset: i32 = 4;
let maxLength: i32 = DEFAULT_PACKAGE_MAX_LENGTH;
let proxy: bool = false;

export function cfgProtocol(): i32 { return protocol; }
export function cfgEof(): u64 { return eofPat; }
export function cfgEofLen(): i32 { return eofLen; }
export function cfgLengthType(): i32 { return lengthType; }
export function cfgLengthOffset(): i32 { return lengthOffset; }
export function cfgBodyOffset(): i32 { return bodyOffset; }
export function cfgMaxLength(): i32 { return maxLength; }
export function cfgProxy(): bool { return proxy; }

function strEq(p: usize, n: i32, q: usize, m: i32): bool {
  return n == m && memory.compare(p, q, <usize>n) == 0;
}

function refresh(): void {
  let e = entry(S_PROTOCOL);
  const p = <usize>load<u32>(e + E_STR);
  const n = load<i32>(e + E_STRLEN);
  const c0 = load<u8>(p);
  protocol = n == 3 && c0 == 0x72 ? PROTO_RAW : c0 == 0x65 ? PROTO_EOF : c0 == 0x6c ? PROTO_LENGTH : PROTO_HTTP;
  e = entry(S_EOF);
  eofLen = load<i32>(e + E_STRLEN);
  eofPat = 0;
  for (let i = 0; i < eofLen; i++) eofPat |= <u64>load<u8>(<usize>load<u32>(e + E_STR) + <usize>i) << (<u64>i << 3);
  lengthType = load<u8>(<usize>load<u32>(entry(S_LTYPE) + E_STR));
  lengthOffset = <i32>load<f64>(entry(S_LOFF) + E_NUM);
  bodyOffset = <i32>load<f64>(entry(S_BOFF) + E_NUM);
  maxLength = <i32>load<f64>(entry(S_MAXLEN) + E_NUM);
  proxy = load<f64>(entry(S_PROXY) + E_NUM) != 0;
}

/** Is [p, p+n) one of the '|'-separated choices (a static UTF-16 string)? */
function inChoices(choices: string, p: usize, n: i32): bool {
  const m = choices.length;
  let s = 0;
  for (let i = 0; i <= m; i++) {
    if (i == m || choices.charCodeAt(i) == 0x7c) {
      if (i - s == n) {
        let ok = true;
        for (let j = 0; j < n; j++) {
          if (<i32>load<u8>(p + <usize>j) != choices.charCodeAt(s + j)) { ok = false; break; }
        }
        if (ok) return true;
      }
      s = i + 1;
    }
  }
  return false;
}

function valid(i: i32, tag: i32, num: f64, p: usize, n: i32): bool {
  const kind = load<i32>(entry(i) + E_KIND);
  const min = load<f64>(rangeTab + <usize>i * 16);
  const max = load<f64>(rangeTab + <usize>i * 16 + 8);
  switch (kind) {
    case K_INT: return tag == TAG_NUMBER && isFinite(num) && Math.floor(num) == num && num >= min && num <= max;
    case K_NUM: return tag == TAG_NUMBER && isFinite(num) && num >= min && num <= max;
    case K_BOOL: return tag == TAG_BOOL;
    case K_STR: return (tag == TAG_STRING || tag == TAG_BYTES) && <f64>n >= min && <f64>n <= max;
    case K_ENUM: return tag == TAG_STRING && inChoices(changetype<string>(<usize>load<u32>(choicesTab + <usize>i * 4)), p, n);
    default: return true;
  }
}

/** Index of the key [p, p+n), or -1. */
function find(p: usize, n: i32): i32 {
  for (let i = 0; i < count; i++) {
    const e = entry(i);
    if (strEq(<usize>load<u32>(e + E_KEY), load<i32>(e + E_KEYLEN), p, n)) return i;
  }
  return -1;
}

/** Validates without storing. */
function check(kp: usize, kn: i32, tag: i32, num: f64, vp: usize, vn: i32): i32 {
  const i = find(kp, kn);
  if (i >= 0 && i < known && !valid(i, tag, num, vp, vn)) {
    ctrlSet(CTRL_ARG, i);
    return ERR_INVALID_SETTING;
  }
  return OK;
}

function put(kp: usize, kn: i32, tag: i32, num: f64, vp: usize, vn: i32): i32 {
  let i = find(kp, kn);
  if (i >= 0 && i < known) {
    if (!valid(i, tag, num, vp, vn)) {
      ctrlSet(CTRL_ARG, i);
      return ERR_INVALID_SETTING;
    }
  } else if (i < 0) {
    grow();
    i = count++;
    const e = entry(i);
    memory.fill(e, 0, E_SIZE);
    store<u32>(e + E_KEY, <u32>copyBytes(kp, kn));
    store<i32>(e + E_KEYLEN, kn);
  }
  if (tag == TAG_BOOL) num = num != 0 ? 1 : 0;
  setValue(entry(i), tag, num, vp, vn);
  if (i < known) refresh();
  return OK;
}

/** Scratch area for a key and value; see settingSet. */
export function settingsScratch(n: i32): usize {
  return reserveScratch(n);
}

/**
 * Sets a key from the scratch area: key bytes at [0, keyLen), value bytes at
 * [keyLen, keyLen+valLen). Returns OK or ERR_INVALID_SETTING with the key's
 * index in CTRL_ARG (see settingAllowed).
 */
export function settingSet(keyLen: i32, tag: i32, num: f64, valLen: i32): i32 {
  const s = reserveScratch(0);
  return put(s, keyLen, tag, num, s + <usize>keyLen, valLen);
}

/** Index of the key in the scratch area [0, keyLen), or -1. */
export function settingFind(keyLen: i32): i32 {
  return find(reserveScratch(0), keyLen);
}

export function settingCount(): i32 {
  return count;
}

/** Reads entry i into the control block: value tag, number, bytes. */
export function settingRead(i: i32): i32 {
  if (i < 0 || i >= count) return TAG_NONE;
  const e = entry(i);
  ctrlSet(CTRL_TAG, load<i32>(e + E_TAG));
  store<f64>(CTRL + (<usize>CTRL_NUM << 2), load<f64>(e + E_NUM));
  ctrlSet(CTRL_STR_PTR, load<u32>(e + E_STR));
  ctrlSet(CTRL_STR_LEN, load<i32>(e + E_STRLEN));
  return load<i32>(e + E_TAG);
}

/** Puts entry i's key bytes in CTRL_STR_PTR/LEN. */
export function settingKey(i: i32): void {
  const e = entry(i);
  ctrlSet(CTRL_STR_PTR, load<u32>(e + E_KEY));
  ctrlSet(CTRL_STR_LEN, load<i32>(e + E_KEYLEN));
}

/** Puts what known key i allows, as text, in CTRL_STR_PTR/LEN. */
export function settingAllowed(i: i32): void {
  if (i < 0 || i >= known) {
    ctrlSet(CTRL_STR_LEN, 0);
    return;
  }
  ctrlSet(CTRL_STR_PTR, load<u32>(allowedTab + <usize>i * 8));
  ctrlSet(CTRL_STR_LEN, load<i32>(allowedTab + <usize>i * 8 + 4));
}

// Serialized form: "TPS1", u32 count, then per entry:
// u32 keyLen, key, u8 tag, and f64 (number/bool) or u32 len + bytes (string/json).
const MAGIC: u32 = 0x31535054;
let blob: usize = 0;

/** Serializes every entry; the bytes are at CTRL_STR_PTR/LEN. Returns the length. */
export function settingsSerialize(): i32 {
  let size = 8;
  for (let i = 0; i < count; i++) {
    const e = entry(i);
    size += 4 + load<i32>(e + E_KEYLEN) + 1;
    const tag = load<i32>(e + E_TAG);
    size += hasBytes(tag) ? 4 + load<i32>(e + E_STRLEN) : 8;
  }
  if (blob) heap.free(blob);
  blob = heap.alloc(<usize>size);
  let p = blob;
  store<u32>(p, MAGIC);
  store<u32>(p, count, 4);
  p += 8;
  for (let i = 0; i < count; i++) {
    const e = entry(i);
    const kn = load<i32>(e + E_KEYLEN);
    store<u32>(p, kn);
    memory.copy(p + 4, <usize>load<u32>(e + E_KEY), <usize>kn);
    p += 4 + <usize>kn;
    const tag = load<i32>(e + E_TAG);
    store<u8>(p++, <u8>tag);
    if (hasBytes(tag)) {
      const vn = load<i32>(e + E_STRLEN);
      store<u32>(p, vn);
      memory.copy(p + 4, <usize>load<u32>(e + E_STR), <usize>vn);
      p += 4 + <usize>vn;
    } else {
      store<f64>(p, load<f64>(e + E_NUM));
      p += 8;
    }
  }
  ctrlSet(CTRL_STR_PTR, <i32>blob);
  ctrlSet(CTRL_STR_LEN, size);
  return size;
}

/**
 * Loads a serialized store from the scratch area [0, len). Every entry is
 * validated as by settingSet. Returns OK, ERR_BAD_SETTINGS_BLOB, or
 * ERR_INVALID_SETTING.
 */
export function settingsLoad(len: i32): i32 {
  // Validate everything first, so a bad blob changes nothing.
  const r = loadPass(len, true);
  return r != OK ? r : loadPass(len, false);
}

function loadPass(len: i32, dry: bool): i32 {
  const base = reserveScratch(0);
  const end = base + <usize>len;
  if (len < 8 || load<u32>(base) != MAGIC) return ERR_BAD_SETTINGS_BLOB;
  const n = load<u32>(base, 4);
  let p = base + 8;
  for (let k: u32 = 0; k < n; k++) {
    if (p + 4 > end) return ERR_BAD_SETTINGS_BLOB;
    const kn = load<u32>(p);
    if (<u64>p + 5 + <u64>kn > <u64>end) return ERR_BAD_SETTINGS_BLOB;
    const kp = p + 4;
    p = kp + <usize>kn;
    const tag = <i32>load<u8>(p++);
    let r = OK;
    if (hasBytes(tag)) {
      if (p + 4 > end) return ERR_BAD_SETTINGS_BLOB;
      const vn = load<u32>(p);
      if (<u64>p + 4 + <u64>vn > <u64>end) return ERR_BAD_SETTINGS_BLOB;
      r = dry ? check(kp, <i32>kn, tag, 0, p + 4, <i32>vn) : put(kp, <i32>kn, tag, 0, p + 4, <i32>vn);
      p += 4 + <usize>vn;
    } else if (tag == TAG_NUMBER || tag == TAG_BOOL || tag == TAG_NULL) {
      if (p + 8 > end) return ERR_BAD_SETTINGS_BLOB;
      r = dry ? check(kp, <i32>kn, tag, load<f64>(p), 0, 0) : put(kp, <i32>kn, tag, load<f64>(p), 0, 0);
      p += 8;
    } else {
      return ERR_BAD_SETTINGS_BLOB;
    }
    if (r != OK) return r;
  }
  return p == end ? OK : ERR_BAD_SETTINGS_BLOB;
}

/** Restores every known key to its default and drops unknown keys. */
export function settingsReset(): void {
  for (let i = 0; i < count; i++) {
    const e = entry(i);
    const s = <usize>load<u32>(e + E_STR);
    if (s) heap.free(s);
    heap.free(<usize>load<u32>(e + E_KEY));
  }
  const a = allowedTab;
  for (let i = 0; i < known; i++) heap.free(<usize>load<u32>(a + <usize>i * 8));
  count = 0;
  known = 0;
  defineSchema();
  refresh();
}

defineSchema();
refresh();
