// The bytes of HTTP/1.x, as llhttp strict classifies them: token characters,
// the authority of a request target, field values, and the SIMD skip over a
// run of allowed bytes. Shared by the head parser (http.ts, http_fields.ts)
// and the chunked-body machine (chunked.ts).

// tchar (RFC 9110 5.6.2) lookup: 1 for a token character.
// biome-ignore format: 32 byte values per row
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

// The authority of an absolute-form target, and a CONNECT target, as llhttp
// reads it: alphanumerics, "-_.!~*'()%;:&=+$," and "[]" ('@' is handled apart).
// biome-ignore format: 32 byte values per row
const SERVER: usize = memory.data<u8>([
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,1,0,0,1,1,1,1,1,1,1,1,1,1,1,0, 1,1,1,1,1,1,1,1,1,1,1,1,0,1,0,0,
  0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,0,1,0,1,
  0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,0,0,0,1,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
]);

export const CR: u32 = 0x0d;
export const LF: u32 = 0x0a;
export const SP: u32 = 0x20;
export const HTAB: u32 = 0x09;

// @ts-expect-error: decorator
@inline export function isT(c: u32): bool {
  return load<u8>(TCHAR + <usize>c) != 0;
}
// @ts-expect-error: decorator
@inline export function isServer(c: u32): bool {
  return load<u8>(SERVER + <usize>c) != 0;
}
// @ts-expect-error: decorator
@inline export function isAlpha(c: u32): bool {
  return (c | 0x20) - 0x61 < 26;
}
// @ts-expect-error: decorator
@inline export function isOws(c: u32): bool {
  return c == SP || c == HTAB;
}
// A field-value byte (HTAB, SP, VCHAR, obs-text), as in a header or trailer value or a quoted string.
// @ts-expect-error: decorator
@inline export function isFieldByte(c: u32): bool {
  return c == HTAB || (c >= SP && c != 0x7f);
}
// @ts-expect-error: decorator
@inline export function lower(c: u32): u32 {
  return c - 0x41 < 26 ? c | 0x20 : c;
}
// @ts-expect-error: decorator
@inline export function hexValue(c: u32): u32 {
  if (c - 0x30 < 10) return c - 0x30;
  const l = (c | 0x20) - 0x61;
  return l < 6 ? l + 10 : 16;
}

/** True for the bytes llhttp skips before a request line: any CR and LF. */
// @ts-expect-error: decorator
@inline export function isEmptyLineByte(c: u32): bool {
  return c == CR || c == LF;
}

/** Compares [p, p+n) case-insensitively against an ASCII-lowercase literal. */
export function eqLower(p: usize, n: i32, lit: string): bool {
  if (n != lit.length) return false;
  for (let i = 0; i < n; i++) {
    if (lower(load<u8>(p + <usize>i)) != <u32>lit.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * First address in [q, end) whose byte is not allowed in a field value
 * (VCHAR, obs-text, SP, HTAB; `target`: VCHAR only, as llhttp's request
 * target), or `end`. 16 bytes per step; a step may read up to 15 bytes past
 * `end` when linear memory allows, else the bytes are checked one by one.
 */
// @ts-expect-error: decorator
@inline export function skipAllowed(q: usize, end: usize, target: bool): usize {
  if (end + 16 <= (<usize>memory.size()) << 16) {
    const lo = i8x16.splat(0x21);
    const del = i8x16.splat(0x7f);
    const sp = i8x16.splat(0x20);
    const tab = i8x16.splat(0x09);
    while (q < end) {
      const v = v128.load(q);
      let bad: v128;
      if (target) {
        // signed: obs-text (0x80-0xff) is below 0x21 too
        bad = i8x16.lt_s(v, lo);
      } else {
        bad = v128.andnot(i8x16.lt_u(v, lo), v128.or(i8x16.eq(v, sp), i8x16.eq(v, tab)));
      }
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
    if (target ? c - 0x21 >= 0x5e : !isFieldByte(c)) return q;
    q++;
  }
  return end;
}
