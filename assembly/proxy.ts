// PROXY protocol v1 (text) and v2 (binary) headers, as HAProxy sends them
// with send-proxy / send-proxy-v2. Parsed before framing starts; the result
// goes to the control block: kind, family, ports, and both addresses as 16
// bytes each (IPv4 in the first 4).
import { CTRL_PROXY, PK_ADDRESS, PK_LOCAL, PROXY_V1_MAX, PROXY_MAX } from './status';
import { CTRL } from './memory';

// Results of proxyHeader.
export const PROXY_MORE: i32 = -1;
export const PROXY_BAD: i32 = -2;

// \r\n\r\n\0\r\nQUIT\n
const SIG: usize = memory.data<u8>([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1: usize = memory.data<u8>([0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]); // "PROXY "

// @ts-expect-error: decorator
@inline function out(): usize {
  return CTRL + ((<usize>CTRL_PROXY) << 2);
}

function put(kind: i32, family: i32, sport: i32, dport: i32): void {
  const o = out();
  store<i32>(o, kind);
  store<i32>(o, family, 4);
  store<i32>(o, sport, 8);
  store<i32>(o, dport, 12);
}

/** Clears the result (the host reads PK_NONE while no header has been parsed). */
export function proxyClear(): void {
  memory.fill(out(), 0, 48);
}

/**
 * Looks at [p, p+n), the first bytes of a connection. Returns the header's
 * length once it is complete and valid (the result is in the control block),
 * PROXY_MORE while it may still become valid, or PROXY_BAD.
 */
export function proxyHeader(p: usize, n: i32): i32 {
  if (n == 0) return PROXY_MORE;
  if (load<u8>(p) == 0x0d) return v2(p, n);
  if (load<u8>(p) == 0x50) return v1(p, n);
  return PROXY_BAD;
}

function v2(p: usize, n: i32): i32 {
  const k = n < 12 ? n : 12;
  if (memory.compare(p, SIG, <usize>k) != 0) return PROXY_BAD;
  if (n < 16) return PROXY_MORE;
  const verCmd = <i32>load<u8>(p + 12);
  if (verCmd >> 4 != 2) return PROXY_BAD;
  const cmd = verCmd & 0xf;
  if (cmd > 1) return PROXY_BAD;
  const fam = <i32>load<u8>(p + 13);
  const len = <i32>bswap<u16>(load<u16>(p + 14));
  const total = 16 + len;
  if (total > PROXY_MAX) return PROXY_BAD;
  if (n < total) return PROXY_MORE;
  const a = p + 16;
  const o = out();
  memory.fill(o + 16, 0, 32);
  if (cmd == 0) {
    // LOCAL: a health check from the balancer itself
    put(PK_LOCAL, 0, 0, 0);
  } else if (fam == 0x11) {
    // TCP over IPv4
    if (len < 12) return PROXY_BAD;
    memory.copy(o + 16, a, 4);
    memory.copy(o + 32, a + 4, 4);
    put(PK_ADDRESS, 4, <i32>bswap<u16>(load<u16>(a + 8)), <i32>bswap<u16>(load<u16>(a + 10)));
  } else if (fam == 0x21) {
    // TCP over IPv6
    if (len < 36) return PROXY_BAD;
    memory.copy(o + 16, a, 16);
    memory.copy(o + 32, a + 16, 16);
    put(PK_ADDRESS, 6, <i32>bswap<u16>(load<u16>(a + 32)), <i32>bswap<u16>(load<u16>(a + 34)));
  } else if (fam == 0x00) {
    // UNSPEC
    put(PK_LOCAL, 0, 0, 0);
  } else {
    return PROXY_BAD; // UDP and unix sockets are not for a TCP server
  }
  return total;
}

function v1(p: usize, n: i32): i32 {
  const k = n < 6 ? n : 6;
  if (memory.compare(p, V1, <usize>k) != 0) return PROXY_BAD;
  // The line ends in CRLF within 107 bytes.
  let e = -1;
  const lim = n < PROXY_V1_MAX ? n : PROXY_V1_MAX;
  for (let i = 6; i < lim; i++) {
    const c = load<u8>(p + <usize>i);
    if (c == 0x0a) return PROXY_BAD;
    if (c == 0x0d) {
      if (i + 1 >= n) return PROXY_MORE;
      if (load<u8>(p + <usize>(i + 1)) != 0x0a) return PROXY_BAD;
      e = i;
      break;
    }
  }
  if (e < 0) return n >= PROXY_V1_MAX ? PROXY_BAD : PROXY_MORE;
  const end = p + <usize>e;
  let q = p + 6;
  const o = out();
  memory.fill(o + 16, 0, 32);
  if (
    end - q >= 7 &&
    load<u32>(q) == 0x4e4b4e55 /* "UNKN" */ &&
    load<u16>(q + 4) == 0x574f /* "OW" */ &&
    load<u8>(q + 6) == 0x4e
  ) {
    put(PK_LOCAL, 0, 0, 0); // UNKNOWN: the rest of the line is ignored
    return e + 2;
  }
  if (end - q < 5 || load<u8>(q) != 0x54 || load<u8>(q + 1) != 0x43 || load<u8>(q + 2) != 0x50) return PROXY_BAD;
  const fam = <i32>load<u8>(q + 3);
  if ((fam != 0x34 && fam != 0x36) || load<u8>(q + 4) != 0x20) return PROXY_BAD;
  q += 5;
  const six = fam == 0x36;
  // src SP dst SP sport SP dport
  let s = q;
  while (q < end && load<u8>(q) != 0x20) q++;
  if (q >= end || !(six ? ip6(s, q, o + 16) : ip4(s, q, o + 16))) return PROXY_BAD;
  s = ++q;
  while (q < end && load<u8>(q) != 0x20) q++;
  if (q >= end || !(six ? ip6(s, q, o + 32) : ip4(s, q, o + 32))) return PROXY_BAD;
  s = ++q;
  while (q < end && load<u8>(q) != 0x20) q++;
  const sport = port(s, q);
  if (q >= end || sport < 0) return PROXY_BAD;
  s = ++q;
  const dport = port(s, end);
  if (dport < 0) return PROXY_BAD;
  put(PK_ADDRESS, six ? 6 : 4, sport, dport);
  return e + 2;
}

/** A decimal port 0..65535 without leading zeros, or -1. */
function port(p: usize, end: usize): i32 {
  const n = <i32>(end - p);
  if (n < 1 || n > 5 || (n > 1 && load<u8>(p) == 0x30)) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = <i32>load<u8>(p + <usize>i) - 0x30;
    if (<u32>d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= 65535 ? v : -1;
}

/** Dotted-quad IPv4 into 4 bytes at dst. */
function ip4(p: usize, end: usize, dst: usize): bool {
  let part = 0;
  let v = -1;
  let digits = 0;
  while (p <= end) {
    const c = p < end ? <i32>load<u8>(p) : 0x2e;
    if (c == 0x2e) {
      if (v < 0 || part > 3) return false;
      store<u8>(dst + <usize>part, <u8>v);
      part++;
      v = -1;
      digits = 0;
    } else {
      const d = c - 0x30;
      if (<u32>d > 9 || digits == 3 || (digits > 0 && v == 0)) return false;
      v = v < 0 ? d : v * 10 + d;
      digits++;
      if (v > 255) return false;
    }
    p++;
  }
  return part == 4;
}

function hex(c: i32): i32 {
  if (<u32>(c - 0x30) < 10) return c - 0x30;
  c |= 0x20;
  if (<u32>(c - 0x61) < 6) return c - 0x61 + 10;
  return -1;
}

/** Textual IPv6 (with :: and an optional trailing dotted quad) into 16 bytes at dst. */
function ip6(p: usize, end: usize, dst: usize): bool {
  // Groups before and after "::", filled from both ends.
  let head = 0; // groups written from the front
  let gap = -1; // group index where "::" sits
  if (end - p >= 2 && load<u8>(p) == 0x3a && load<u8>(p + 1) == 0x3a) {
    gap = 0;
    p += 2;
    if (p == end) {
      memory.fill(dst, 0, 16);
      return true;
    }
  } else if (p < end && load<u8>(p) == 0x3a) {
    return false;
  }
  const tmp = memory.data(16);
  while (p < end) {
    // A trailing dotted quad takes two groups.
    let dot = false;
    for (let q = p; q < end && load<u8>(q) != 0x3a; q++)
      if (load<u8>(q) == 0x2e) {
        dot = true;
        break;
      }
    if (dot) {
      if (head > 6 || !ip4(p, end, tmp + <usize>(head * 2))) return false;
      head += 2;
      p = end;
      break;
    }
    let v = 0;
    let digits = 0;
    while (p < end && load<u8>(p) != 0x3a) {
      const h = hex(load<u8>(p));
      if (h < 0 || digits == 4) return false;
      v = (v << 4) | h;
      digits++;
      p++;
    }
    if (digits == 0 || head >= 8) return false;
    store<u8>(tmp + <usize>(head * 2), <u8>(v >> 8));
    store<u8>(tmp + <usize>(head * 2 + 1), <u8>v);
    head++;
    if (p < end) {
      p++; // ':'
      if (p < end && load<u8>(p) == 0x3a) {
        if (gap >= 0) return false;
        gap = head;
        p++;
      } else if (p == end) {
        return false;
      }
    }
  }
  memory.fill(dst, 0, 16);
  if (gap < 0) {
    if (head != 8) return false;
    memory.copy(dst, tmp, 16);
  } else {
    if (head > 7) return false;
    memory.copy(dst, tmp, <usize>(gap * 2));
    const tail = head - gap;
    memory.copy(dst + <usize>((8 - tail) * 2), tmp + <usize>(gap * 2), <usize>(tail * 2));
  }
  return true;
}
