// Host side of the PROXY protocol: the core parses the header; this turns
// its 16-byte addresses into the strings node itself reports.
import * as S from '../assembly/status.js';

export { PK_NONE, PK_ADDRESS, PK_LOCAL } from '../assembly/status.js';

export interface ProxyResult {
  kind: number;
  src?: { ip: string; port: number };
  dst?: { ip: string; port: number };
}

/** Formats 4 or 16 bytes as node does: dotted IPv4, RFC 5952 IPv6 (with ::ffff:a.b.c.d). */
export function formatIp(b: Uint8Array, family: number): string {
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  // The longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** Reads the result of the PROXY header the last feed completed, from the control block. */
export function readProxy(i32: Int32Array, u8: Uint8Array, ctrlWord: number): ProxyResult {
  const base = ctrlWord + S.CTRL_PROXY;
  const kind = i32[base];
  if (kind !== S.PK_ADDRESS) return { kind };
  const family = i32[base + 1];
  const bytes = (base + 4) * 4;
  return {
    kind,
    src: { ip: formatIp(u8.subarray(bytes, bytes + 16), family), port: i32[base + 2] },
    dst: { ip: formatIp(u8.subarray(bytes + 16, bytes + 32), family), port: i32[base + 3] },
  };
}
