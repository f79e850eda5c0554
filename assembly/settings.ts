// The settings stores. Known keys carry a schema (kind, range, default,
// choices, what is allowed), built once and shared; unknown keys are kept as
// given, as php-server does. Each Server has its own store: a block of linear
// memory (`storeNew`) with its entries and the framing config derived from
// them, which `connOpen` copies into a connection's record. Keys and values
// cross the boundary as UTF-8 bytes with a TAG_* tag; the schema's key names
// and allowed texts stay static AssemblyScript strings, which the host reads
// with the loader's __getString.
import {
  OK,
  ERR_INVALID_SETTING,
  ERR_BAD_SETTINGS_BLOB,
  PROTO_RAW,
  PROTO_EOF,
  PROTO_LENGTH,
  PROTO_HTTP,
  TAG_NONE,
  TAG_NUMBER,
  TAG_BOOL,
  TAG_STRING,
  TAG_NULL,
  TAG_JSON,
  TAG_BYTES,
  CTRL_STR_PTR,
  CTRL_STR_LEN,
  CTRL_TAG,
  CTRL_ARG,
  CTRL_NUM,
  MAX_EOF_LEN,
  MAX_PACKAGE_LENGTH,
  DEFAULT_PACKAGE_MAX_LENGTH,
  DEFAULT_INPUT_BUFFER_LIMIT,
} from './status';
import { CTRL, ctrlSet, reserveScratch } from './memory';

// ---------------------------------------------------------------- the schema

// Schema kinds.
const K_INT: i32 = 1; // an integer in [min, max]
const K_NUM: i32 = 2; // a finite number in [min, max]
const K_BOOL: i32 = 3;
const K_STR: i32 = 4; // a string of min..max UTF-8 bytes
const K_ENUM: i32 = 5; // one of the '|'-separated choices

// A known key's schema record (48 bytes). The strings are static
// AssemblyScript strings (UTF-16, ASCII here); the default string value is
// also kept as UTF-8 bytes, which each store copies.
const SK_NAME: usize = 0; // u32 static string
const SK_KIND: usize = 4;
const SK_MIN: usize = 8; // f64
const SK_MAX: usize = 16; // f64
const SK_NUM: usize = 24; // f64 default number or bool
const SK_STR: usize = 32; // u32 ptr to the default string's UTF-8 bytes
const SK_STRLEN: usize = 36;
const SK_CHOICES: usize = 40; // u32 static string: "a|b|c"
const SK_ALLOWED: usize = 44; // u32 static string: what the key allows, for the error message
const SK_SIZE: usize = 48;

let schema: usize = 0;
let schemaCap: i32 = 0;
// Known keys: the first `known` entries of every store, in schema order.
let known: i32 = 0;

// Known keys whose indices the framing config reads.
const S_PROTOCOL = 2;
const S_EOF = 3;
const S_LTYPE = 4;
const S_LOFF = 5;
const S_BOFF = 6;
const S_MAXLEN = 7;
let S_PROXY = -1;

const U31: f64 = 2147483647;
const U53: f64 = 9007199254740991;

// @ts-expect-error: decorator
@inline function schemaKey(i: i32): usize {
  return schema + <usize>i * SK_SIZE;
}

// @ts-expect-error: decorator
@inline function staticString(p: usize): string {
  return changetype<string>(p);
}

/** Copies an ASCII literal into fresh heap bytes (a default value, once). */
function ascii(s: string): usize {
  const n = s.length;
  const p = heap.alloc(n > 0 ? <usize>n : 1);
  for (let i = 0; i < n; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
  return p;
}

function def(name: string, kind: i32, min: f64, max: f64, num: f64, str: string, choices: string, allowed: string): void {
  if (known == schemaCap) {
    schemaCap = schemaCap == 0 ? 32 : schemaCap * 2;
    schema = schema ? heap.realloc(schema, <usize>schemaCap * SK_SIZE) : heap.alloc(<usize>schemaCap * SK_SIZE);
  }
  const k = schemaKey(known);
  store<u32>(k + SK_NAME, <u32>changetype<usize>(name));
  store<i32>(k + SK_KIND, kind);
  store<f64>(k + SK_MIN, min);
  store<f64>(k + SK_MAX, max);
  store<f64>(k + SK_NUM, kind == K_BOOL || kind == K_INT || kind == K_NUM ? num : 0);
  const hasStr = kind == K_STR || kind == K_ENUM;
  store<u32>(k + SK_STR, hasStr ? <u32>ascii(str) : 0);
  store<i32>(k + SK_STRLEN, hasStr ? str.length : 0);
  store<u32>(k + SK_CHOICES, <u32>changetype<usize>(choices));
  store<u32>(k + SK_ALLOWED, <u32>changetype<usize>(allowed));
  known++;
}

function defineSchema(): void {
  def('ip', K_STR, 0, 255, 0, '0.0.0.0', '', 'an IPv4 or IPv6 address');
  def('port', K_INT, 0, 65535, 0, '', '', 'an integer from 0 to 65535');
  def('protocol', K_ENUM, 0, 0, 0, 'raw', 'raw|eof|length|http', 'one of raw, eof, length, http');
  def('package_eof', K_STR, 1, MAX_EOF_LEN, 0, '\r\n', '', 'a string of 1 to 8 bytes');
  def('package_length_type', K_ENUM, 0, 0, 0, 'N', 'c|C|s|S|n|v|l|L|N|V', 'one of the pack codes c, C, s, S, n, v, l, L, N, V');
  def('package_length_offset', K_INT, 0, 65535, 0, '', '', 'an integer from 0 to 65535');
  def('package_body_offset', K_INT, 0, 65535, 4, '', '', 'an integer from 0 to 65535');
  def('package_max_length', K_INT, 1, MAX_PACKAGE_LENGTH, DEFAULT_PACKAGE_MAX_LENGTH, '', '', 'an integer from 1 to 1073741824');
  def('process_number', K_INT, 1, 1024, 1, '', '', 'an integer from 1 to 1024');
  def('master_name', K_STR, 0, 1024, 0, 'tcp-prefork master', '', 'a string of at most 1024 bytes');
  def('worker_name', K_STR, 0, 1024, 0, 'tcp-prefork worker', '', 'a string of at most 1024 bytes');
  def('max_wait_time', K_NUM, 0, 86400, 3, '', '', 'a number of seconds from 0 to 86400');
  // biome-ignore format: one def a line (test/settings.test.ts reads them)
  def('dispatch_mode', K_ENUM, 0, 0, 0, 'hybrid', 'shared|round_robin|hybrid|reuseport', 'one of shared, round_robin, hybrid, reuseport');
  def('max_conn', K_INT, 1, U31, 1024, '', '', 'an integer from 1 to 2147483647');
  def('heartbeat_idle_time', K_NUM, 0, 86400, 0, '', '', 'a number of seconds from 0 (off) to 86400');
  def('socket_buffer_size', K_INT, 1, U31, 2097152, '', '', 'an integer from 1 to 2147483647');
  def('max_request', K_INT, 0, U31, 0, '', '', 'an integer from 0 (off) to 2147483647');
  def('backlog', K_INT, 1, 65535, 511, '', '', 'an integer from 1 to 65535');
  def('pid_file', K_STR, 0, 4096, 0, '', '', 'a path of at most 4096 bytes');
  S_PROXY = known;
  def('proxy_protocol', K_BOOL, 0, 0, 0, '', '', 'a boolean');
  def('ssl_cert_file', K_STR, 0, 4096, 0, '', '', 'a path of at most 4096 bytes');
  def('ssl_key_file', K_STR, 0, 4096, 0, '', '', 'a path of at most 4096 bytes');
  def('log_level', K_ENUM, 0, 0, 0, 'info', 'info|error|silent', 'one of info, error, silent');
  def('input_buffer_limit', K_INT, 0, U53, DEFAULT_INPUT_BUFFER_LIMIT, '', '', 'an integer from 0 (off) to 9007199254740991');
  def('http_auto_continue', K_BOOL, 0, 0, 1, '', '', 'a boolean');
  def('http_error_replies', K_BOOL, 0, 0, 1, '', '', 'a boolean');
  def('reload_handover', K_BOOL, 0, 0, 0, '', '', 'a boolean');
  def('handshake_timeout', K_NUM, 0, 86400, 10, '', '', 'a number of seconds from 0 (off) to 86400');
  def('package_timeout', K_NUM, 0, 86400, 60, '', '', 'a number of seconds from 0 (off) to 86400');
}

defineSchema();

/** Is [p, p+n) the static ASCII string `s`? */
function isAscii(s: string, p: usize, n: i32): bool {
  if (s.length != n) return false;
  for (let i = 0; i < n; i++) {
    if (<i32>load<u8>(p + <usize>i) != s.charCodeAt(i)) return false;
  }
  return true;
}

/** Is [p, p+n) one of the '|'-separated choices (a static string)? */
function inChoices(choices: string, p: usize, n: i32): bool {
  const m = choices.length;
  let s = 0;
  for (let i = 0; i <= m; i++) {
    if (i == m || choices.charCodeAt(i) == 0x7c) {
      if (i - s == n) {
        let ok = true;
        for (let j = 0; j < n; j++) {
          if (<i32>load<u8>(p + <usize>j) != choices.charCodeAt(s + j)) {
            ok = false;
            break;
          }
        }
        if (ok) return true;
      }
      s = i + 1;
    }
  }
  return false;
}

/** Whether the value suits known key i. */
function valid(i: i32, tag: i32, num: f64, p: usize, n: i32): bool {
  const k = schemaKey(i);
  const min = load<f64>(k + SK_MIN);
  const max = load<f64>(k + SK_MAX);
  switch (load<i32>(k + SK_KIND)) {
    case K_INT:
      return tag == TAG_NUMBER && isFinite(num) && Math.floor(num) == num && num >= min && num <= max;
    case K_NUM:
      return tag == TAG_NUMBER && isFinite(num) && num >= min && num <= max;
    case K_BOOL:
      return tag == TAG_BOOL;
    case K_STR:
      return (tag == TAG_STRING || tag == TAG_BYTES) && <f64>n >= min && <f64>n <= max;
    case K_ENUM:
      return tag == TAG_STRING && inChoices(staticString(<usize>load<u32>(k + SK_CHOICES)), p, n);
    default:
      return true;
  }
}

// ---------------------------------------------------------------- a store

// A store's block. Its framing config is derived from its entries on every
// change to a known key.
const ST_ENTRIES: usize = 0; // u32 ptr
const ST_COUNT: usize = 4;
const ST_CAP: usize = 8;
const ST_PROTOCOL: usize = 12;
const ST_EOF: usize = 16; // u64, the package_eof bytes little-endian
const ST_EOF_LEN: usize = 24;
const ST_LTYPE: usize = 28; // pack code of the length field, as a char code
const ST_LOFF: usize = 32;
const ST_BOFF: usize = 36;
const ST_MAXLEN: usize = 40;
const ST_PROXY: usize = 44;
const ST_SIZE: usize = 48;

// An entry (32 bytes). A known key's name is in the schema (E_KEY 0); an
// unknown key's is its UTF-8 bytes.
const E_KEY: usize = 0; // u32 ptr to the UTF-8 key
const E_KEYLEN: usize = 4;
const E_TAG: usize = 8;
const E_NUM: usize = 16; // f64
const E_STR: usize = 24; // u32 ptr to the UTF-8 value
const E_STRLEN: usize = 28;
const E_SIZE: usize = 32;

// @ts-expect-error: decorator
@inline function count(st: usize): i32 {
  return load<i32>(st + ST_COUNT);
}

// @ts-expect-error: decorator
@inline function entry(st: usize, i: i32): usize {
  return <usize>load<u32>(st + ST_ENTRIES) + <usize>i * E_SIZE;
}

// @ts-expect-error: decorator
@inline function hasBytes(tag: i32): bool {
  return tag == TAG_STRING || tag == TAG_JSON || tag == TAG_BYTES;
}

function copyBytes(src: usize, n: i32): usize {
  const p = heap.alloc(n > 0 ? <usize>n : 1);
  memory.copy(p, src, <usize>n);
  return p;
}

/** Room for one more entry. */
function grow(st: usize): void {
  const cap = load<i32>(st + ST_CAP);
  if (count(st) < cap) return;
  const next = cap * 2;
  store<u32>(st + ST_ENTRIES, <u32>heap.realloc(<usize>load<u32>(st + ST_ENTRIES), <usize>next * E_SIZE));
  store<i32>(st + ST_CAP, next);
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

/** Frees every entry's bytes (keys of unknown entries, values) and empties the store. */
function clear(st: usize): void {
  const n = count(st);
  for (let i = 0; i < n; i++) {
    const e = entry(st, i);
    const v = <usize>load<u32>(e + E_STR);
    if (v) heap.free(v);
    const k = <usize>load<u32>(e + E_KEY);
    if (k) heap.free(k);
  }
  store<i32>(st + ST_COUNT, 0);
}

/** Fills an empty store with the known keys' defaults. */
function defaults(st: usize): void {
  memory.fill(entry(st, 0), 0, <usize>known * E_SIZE);
  for (let i = 0; i < known; i++) {
    const k = schemaKey(i);
    const e = entry(st, i);
    store<i32>(e + E_KEYLEN, staticString(<usize>load<u32>(k + SK_NAME)).length);
    const kind = load<i32>(k + SK_KIND);
    if (kind == K_STR || kind == K_ENUM) {
      setValue(e, TAG_STRING, 0, <usize>load<u32>(k + SK_STR), load<i32>(k + SK_STRLEN));
    } else {
      setValue(e, kind == K_BOOL ? TAG_BOOL : TAG_NUMBER, load<f64>(k + SK_NUM), 0, 0);
    }
  }
  store<i32>(st + ST_COUNT, known);
  refresh(st);
}

/** Derives the store's framing config from its known keys. */
function refresh(st: usize): void {
  let e = entry(st, S_PROTOCOL);
  const p = <usize>load<u32>(e + E_STR);
  const n = load<i32>(e + E_STRLEN);
  const c0 = load<u8>(p);
  const protocol = n == 3 && c0 == 0x72 ? PROTO_RAW : c0 == 0x65 ? PROTO_EOF : c0 == 0x6c ? PROTO_LENGTH : PROTO_HTTP;
  store<i32>(st + ST_PROTOCOL, protocol);
  e = entry(st, S_EOF);
  const eofLen = load<i32>(e + E_STRLEN);
  let eof: u64 = 0;
  for (let i = 0; i < eofLen; i++) eof |= (<u64>load<u8>(<usize>load<u32>(e + E_STR) + <usize>i)) << ((<u64>i) << 3);
  store<u64>(st + ST_EOF, eof);
  store<i32>(st + ST_EOF_LEN, eofLen);
  store<i32>(st + ST_LTYPE, load<u8>(<usize>load<u32>(entry(st, S_LTYPE) + E_STR)));
  store<i32>(st + ST_LOFF, <i32>load<f64>(entry(st, S_LOFF) + E_NUM));
  store<i32>(st + ST_BOFF, <i32>load<f64>(entry(st, S_BOFF) + E_NUM));
  store<i32>(st + ST_MAXLEN, <i32>load<f64>(entry(st, S_MAXLEN) + E_NUM));
  store<i32>(st + ST_PROXY, load<f64>(entry(st, S_PROXY) + E_NUM) != 0 ? 1 : 0);
}

// The framing config of a store, for connOpen.
export function cfgProtocol(st: usize): i32 {
  return load<i32>(st + ST_PROTOCOL);
}
export function cfgEof(st: usize): u64 {
  return load<u64>(st + ST_EOF);
}
export function cfgEofLen(st: usize): i32 {
  return load<i32>(st + ST_EOF_LEN);
}
export function cfgLengthType(st: usize): i32 {
  return load<i32>(st + ST_LTYPE);
}
export function cfgLengthOffset(st: usize): i32 {
  return load<i32>(st + ST_LOFF);
}
export function cfgBodyOffset(st: usize): i32 {
  return load<i32>(st + ST_BOFF);
}
export function cfgMaxLength(st: usize): i32 {
  return load<i32>(st + ST_MAXLEN);
}
export function cfgProxy(st: usize): bool {
  return load<i32>(st + ST_PROXY) != 0;
}

/** Index of the key [p, p+n) in the store, or -1. */
function find(st: usize, p: usize, n: i32): i32 {
  for (let i = 0; i < known; i++) {
    if (isAscii(staticString(<usize>load<u32>(schemaKey(i) + SK_NAME)), p, n)) return i;
  }
  const c = count(st);
  for (let i = known; i < c; i++) {
    const e = entry(st, i);
    if (load<i32>(e + E_KEYLEN) == n && memory.compare(<usize>load<u32>(e + E_KEY), p, <usize>n) == 0) return i;
  }
  return -1;
}

/** Validates without storing. */
function check(st: usize, kp: usize, kn: i32, tag: i32, num: f64, vp: usize, vn: i32): i32 {
  const i = find(st, kp, kn);
  if (i >= 0 && i < known && !valid(i, tag, num, vp, vn)) {
    ctrlSet(CTRL_ARG, i);
    return ERR_INVALID_SETTING;
  }
  return OK;
}

function put(st: usize, kp: usize, kn: i32, tag: i32, num: f64, vp: usize, vn: i32): i32 {
  let i = find(st, kp, kn);
  if (i >= 0 && i < known) {
    if (!valid(i, tag, num, vp, vn)) {
      ctrlSet(CTRL_ARG, i);
      return ERR_INVALID_SETTING;
    }
  } else if (i < 0) {
    grow(st);
    i = count(st);
    store<i32>(st + ST_COUNT, i + 1);
    const e = entry(st, i);
    memory.fill(e, 0, E_SIZE);
    store<u32>(e + E_KEY, <u32>copyBytes(kp, kn));
    store<i32>(e + E_KEYLEN, kn);
  }
  if (tag == TAG_BOOL) num = num != 0 ? 1 : 0;
  setValue(entry(st, i), tag, num, vp, vn);
  if (i < known) refresh(st);
  return OK;
}

// ---------------------------------------------------------------- exports

/** A new store holding the defaults. Returns its address, for every other settings export and conn_open. */
export function storeNew(): usize {
  const st = heap.alloc(ST_SIZE);
  memory.fill(st, 0, ST_SIZE);
  const cap = known * 2;
  store<u32>(st + ST_ENTRIES, <u32>heap.alloc(<usize>cap * E_SIZE));
  store<i32>(st + ST_CAP, cap);
  defaults(st);
  return st;
}

/** Frees a store and everything it holds. Connections opened from it keep their config. */
export function storeFree(st: usize): void {
  clear(st);
  heap.free(<usize>load<u32>(st + ST_ENTRIES));
  heap.free(st);
}

/** Scratch area for a key and value; see settingSet. */
export function settingsScratch(n: i32): usize {
  return reserveScratch(n);
}

/**
 * Sets a key from the scratch area: key bytes at [0, keyLen), value bytes at
 * [keyLen, keyLen+valLen). Returns OK or ERR_INVALID_SETTING with the key's
 * index in CTRL_ARG (see schemaAllowed).
 */
export function settingSet(st: usize, keyLen: i32, tag: i32, num: f64, valLen: i32): i32 {
  const s = reserveScratch(0);
  return put(st, s, keyLen, tag, num, s + <usize>keyLen, valLen);
}

/** Index of the key in the scratch area [0, keyLen), or -1. */
export function settingFind(st: usize, keyLen: i32): i32 {
  return find(st, reserveScratch(0), keyLen);
}

export function settingCount(st: usize): i32 {
  return count(st);
}

/** Reads entry i into the control block: value tag, number, bytes. */
export function settingRead(st: usize, i: i32): i32 {
  if (i < 0 || i >= count(st)) return TAG_NONE;
  const e = entry(st, i);
  ctrlSet(CTRL_TAG, load<i32>(e + E_TAG));
  store<f64>(CTRL + ((<usize>CTRL_NUM) << 2), load<f64>(e + E_NUM));
  ctrlSet(CTRL_STR_PTR, load<u32>(e + E_STR));
  ctrlSet(CTRL_STR_LEN, load<i32>(e + E_STRLEN));
  return load<i32>(e + E_TAG);
}

/**
 * Entry i's key: a known key's name as a static string (returns its
 * address), else 0 with the key's UTF-8 bytes in CTRL_STR_PTR/LEN.
 */
export function settingKey(st: usize, i: i32): usize {
  if (i < known) return schemaName(i);
  const e = entry(st, i);
  ctrlSet(CTRL_STR_PTR, load<u32>(e + E_KEY));
  ctrlSet(CTRL_STR_LEN, load<i32>(e + E_KEYLEN));
  return 0;
}

/** How many keys are known: the first entries of every store. */
export function schemaCount(): i32 {
  return known;
}

/** Known key i's name, a static string (0 for any other i). */
export function schemaName(i: i32): usize {
  return i >= 0 && i < known ? <usize>load<u32>(schemaKey(i) + SK_NAME) : 0;
}

/** What known key i allows, as text, a static string (0 for any other i). */
export function schemaAllowed(i: i32): usize {
  return i >= 0 && i < known ? <usize>load<u32>(schemaKey(i) + SK_ALLOWED) : 0;
}

// Serialized form: "TPS1", u32 count, then per entry:
// u32 keyLen, key, u8 tag, and f64 (number/bool) or u32 len + bytes (string/json).
const MAGIC: u32 = 0x31535054;
// The last serialized store (one area for every store: the host copies it out at once).
let blob: usize = 0;

/** Serializes every entry; the bytes are at CTRL_STR_PTR/LEN. Returns the length. */
export function settingsSerialize(st: usize): i32 {
  const n = count(st);
  let size = 8;
  for (let i = 0; i < n; i++) {
    const e = entry(st, i);
    size += 4 + load<i32>(e + E_KEYLEN) + 1;
    const tag = load<i32>(e + E_TAG);
    size += hasBytes(tag) ? 4 + load<i32>(e + E_STRLEN) : 8;
  }
  if (blob) heap.free(blob);
  blob = heap.alloc(<usize>size);
  let p = blob;
  store<u32>(p, MAGIC);
  store<u32>(p, n, 4);
  p += 8;
  for (let i = 0; i < n; i++) {
    const e = entry(st, i);
    const kn = load<i32>(e + E_KEYLEN);
    store<u32>(p, kn);
    if (i < known) {
      const name = staticString(schemaName(i));
      for (let j = 0; j < kn; j++) store<u8>(p + 4 + <usize>j, <u8>name.charCodeAt(j));
    } else {
      memory.copy(p + 4, <usize>load<u32>(e + E_KEY), <usize>kn);
    }
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
 * Loads a serialized store from the scratch area [0, len) into store `st`.
 * Every entry is validated as by settingSet. Returns OK,
 * ERR_BAD_SETTINGS_BLOB, or ERR_INVALID_SETTING.
 */
export function settingsLoad(st: usize, len: i32): i32 {
  // Validate everything first, so a bad blob changes nothing.
  const r = loadPass(st, len, true);
  return r != OK ? r : loadPass(st, len, false);
}

function loadPass(st: usize, len: i32, dry: bool): i32 {
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
      r = dry ? check(st, kp, <i32>kn, tag, 0, p + 4, <i32>vn) : put(st, kp, <i32>kn, tag, 0, p + 4, <i32>vn);
      p += 4 + <usize>vn;
    } else if (tag == TAG_NUMBER || tag == TAG_BOOL || tag == TAG_NULL) {
      if (p + 8 > end) return ERR_BAD_SETTINGS_BLOB;
      r = dry ? check(st, kp, <i32>kn, tag, load<f64>(p), 0, 0) : put(st, kp, <i32>kn, tag, load<f64>(p), 0, 0);
      p += 8;
    } else {
      return ERR_BAD_SETTINGS_BLOB;
    }
    if (r != OK) return r;
  }
  return p == end ? OK : ERR_BAD_SETTINGS_BLOB;
}

/** Restores every known key of store `st` to its default and drops its unknown keys. */
export function settingsReset(st: usize): void {
  clear(st);
  defaults(st);
}
