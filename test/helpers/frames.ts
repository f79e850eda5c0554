// Test oracle for the framing core: generators of valid frame streams for
// every protocol (each frame knows its bytes, its expected flags and the
// offsets inside it where a cut is most likely to hurt), stream splitting,
// and a driver that feeds chunks and collects what the core returns.
import fc from 'fast-check';
import type { Core } from '../../src/core.js';

/** One generated frame. `marks` are cut offsets inside it worth trying (delimiters, headers). */
export interface GenFrame {
  bytes: Buffer;
  flags: number;
  marks: number[];
  /** Bytes before the frame that belong to no frame (empty lines before an HTTP request). */
  lead?: Buffer;
}

/** A Buffer that owns its own ArrayBuffer (never a slice of Node's shared pool). */
export function owned(bytes: Uint8Array | number[] | string): Buffer {
  const src = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const u8 = new Uint8Array(src.length);
  u8.set(src);
  return Buffer.from(u8.buffer, 0, u8.length);
}

/** Concatenates frames into one owned stream; returns it with each frame's start and the absolute marks. */
export function joinFrames(frames: GenFrame[]): { stream: Buffer; starts: number[]; marks: number[] } {
  const total = frames.reduce((n, f) => n + (f.lead?.length ?? 0) + f.bytes.length, 0);
  const stream = owned(new Uint8Array(total));
  const starts: number[] = [];
  const marks: number[] = [];
  let at = 0;
  for (const f of frames) {
    if (f.lead) {
      stream.set(f.lead, at);
      for (let k = 0; k <= f.lead.length; k++) if (at + k > 0 && at + k < total) marks.push(at + k);
      at += f.lead.length;
    }
    starts.push(at);
    stream.set(f.bytes, at);
    for (const m of f.marks) if (at + m > 0 && at + m < total) marks.push(at + m);
    at += f.bytes.length;
  }
  return { stream, starts, marks };
}

/** Sorted, unique cut points strictly inside (0, len). */
export function normalizeCuts(len: number, cuts: number[]): number[] {
  const s = new Set<number>();
  for (const c of cuts) if (c > 0 && c < len) s.add(c);
  return [...s].sort((a, b) => a - b);
}

/** Splits `stream` at the given cut points into subarrays (sharing the stream's memory). */
export function splitAt(stream: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of normalizeCuts(stream.length, cuts)) {
    out.push(stream.subarray(prev, c));
    prev = c;
  }
  if (prev < stream.length || stream.length === 0) out.push(stream.subarray(prev));
  return out;
}

export function oneByteChunks(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) out.push(stream.subarray(i, i + 1));
  return out;
}

/** What the core returned for a sequence of chunks on one connection. */
export interface FeedResult {
  frames: Buffer[];
  flags: number[];
  /** For each frame: true when it was a zero-copy subarray of the chunk that completed it. */
  zeroCopy: boolean[];
  /** First non-zero `c.error`, or 0. */
  error: number;
  /** Index of the chunk whose feed reported the error, or -1. */
  errorChunk: number;
}

function emptyResult(): FeedResult {
  return { frames: [], flags: [], zeroCopy: [], error: 0, errorChunk: -1 };
}

/** Feeds one chunk (the k-th) and appends what came out to `r`. */
export function feedOne(c: Core, conn: number, chunk: Buffer, r: FeedResult, k: number): number {
  const n = c.feed(conn, chunk);
  for (let i = 0; i < n; i++) {
    const m = c.message(chunk, i);
    r.frames.push(m);
    r.flags.push(c.flags(i));
    r.zeroCopy.push(
      m.buffer === chunk.buffer && m.byteOffset >= chunk.byteOffset && m.byteOffset + m.length <= chunk.byteOffset + chunk.length,
    );
  }
  if (c.error && !r.error) {
    r.error = c.error;
    r.errorChunk = k;
  }
  return n;
}

/**
 * Feeds the chunks in order, collecting frames. Stops at the first error
 * unless `keepGoing`. `after` runs after every feed (e.g. to check buffered()).
 */
export function feedAll(c: Core, conn: number, chunks: Buffer[], keepGoing = false, after?: (k: number) => void): FeedResult {
  const r = emptyResult();
  for (let k = 0; k < chunks.length; k++) {
    if (r.error && !keepGoing) break;
    feedOne(c, conn, chunks[k], r, k);
    after?.(k);
  }
  return r;
}

/** Feeds two chunk lists on two connections, alternating one chunk of each. `before` runs before every feed. */
export function feedInterleaved(
  c: Core,
  a: number,
  chunksA: Buffer[],
  b: number,
  chunksB: Buffer[],
  before?: (chunk: Buffer) => void,
): [FeedResult, FeedResult] {
  const ra = emptyResult();
  const rb = emptyResult();
  const n = Math.max(chunksA.length, chunksB.length);
  for (let k = 0; k < n; k++) {
    if (k < chunksA.length) {
      before?.(chunksA[k]);
      feedOne(c, a, chunksA[k], ra, k);
    }
    if (k < chunksB.length) {
      before?.(chunksB[k]);
      feedOne(c, b, chunksB[k], rb, k);
    }
  }
  return [ra, rb];
}

/**
 * Returns a `before` hook that, ahead of each chunk (a subarray of `stream`),
 * feeds the chunk plus the next `extra` bytes of the stream (wrapping around)
 * on the raw connection `raw`. The core copies every chunk to the start of
 * one input area, so the bytes just past the chunk's end are then exactly
 * the bytes that will come next: a search that reads past the end of the
 * chunk finds a plausible delimiter or header there instead of zeros.
 */
export function lookahead(c: Core, raw: number, stream: Buffer, extra = 24): (chunk: Buffer) => void {
  const ext = owned(Buffer.concat([stream, stream, Buffer.alloc(extra)]));
  return (chunk) => {
    const start = chunk.byteOffset - stream.byteOffset;
    if (start < 0 || start > stream.length || chunk.buffer !== stream.buffer)
      throw new Error('lookahead: chunk is not a subarray of the stream');
    c.feed(raw, ext.subarray(start, start + chunk.length + extra));
  };
}

function show(b: Uint8Array): string {
  const s = Buffer.from(b).toString('latin1');
  return JSON.stringify(s.length > 120 ? s.slice(0, 60) + '…' + s.slice(-60) : s);
}

/**
 * Throws a descriptive error unless `got` holds exactly the frames and flags
 * of `want`, with no error, and each frame zero-copy exactly when it lies
 * wholly inside one chunk (when `chunks` is given).
 */
export function expectFrames(got: FeedResult, want: GenFrame[], label: string, chunks?: Buffer[]): void {
  if (got.error)
    throw new Error(`${label}: unexpected error ${got.error} at chunk ${got.errorChunk} after ${got.frames.length} frames`);
  if (got.frames.length !== want.length) {
    throw new Error(
      `${label}: got ${got.frames.length} frames, want ${want.length}\n` +
        `got:  ${got.frames.map(show).join(' | ')}\nwant: ${want.map((f) => show(f.bytes)).join(' | ')}`,
    );
  }
  for (let i = 0; i < want.length; i++) {
    if (!got.frames[i].equals(want[i].bytes)) {
      throw new Error(`${label}: frame ${i} differs\ngot:  ${show(got.frames[i])}\nwant: ${show(want[i].bytes)}`);
    }
    if (got.flags[i] !== want[i].flags) {
      throw new Error(`${label}: frame ${i} flags ${got.flags[i]}, want ${want[i].flags}: ${show(want[i].bytes)}`);
    }
  }
  if (chunks) {
    // A frame is zero-copy iff its first and last byte are in the same chunk.
    const chunkOf: number[] = [];
    chunks.forEach((ch, k) => {
      for (let i = 0; i < ch.length; i++) chunkOf.push(k);
    });
    let at = 0;
    for (let i = 0; i < want.length; i++) {
      at += want[i].lead?.length ?? 0;
      const len = want[i].bytes.length;
      const inside = chunkOf[at] === chunkOf[at + len - 1];
      if (got.zeroCopy[i] !== inside) {
        throw new Error(
          `${label}: frame ${i} zeroCopy=${got.zeroCopy[i]} but it ${inside ? 'lies inside one chunk' : 'spans chunks'}`,
        );
      }
      at += len;
    }
  }
}

// ---------------------------------------------------------------- eof

/**
 * A body made of delimiter bytes and a few others (so partial delimiters are
 * common), cut right after the first occurrence of the delimiter in
 * body+delimiter: the frame ends in the delimiter and holds no earlier one.
 */
export function eofFrameArb(delim: Buffer, maxBody = 48): fc.Arbitrary<GenFrame> {
  const alphabet = [...new Set([...delim, 0x41, 0x00, 0x0d, 0x0a, 0xff])];
  const byte = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...alphabet) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  const body = fc.oneof(
    { weight: 6, arbitrary: fc.array(byte, { maxLength: maxBody }) },
    // Occasionally long enough to cross the SIMD search's 16-byte blocks many times.
    { weight: 1, arbitrary: fc.array(byte, { minLength: 60, maxLength: 200 }) },
  );
  return body.map((bytes) => {
    const whole = Buffer.concat([Buffer.from(bytes), delim]);
    const end = whole.indexOf(delim) + delim.length;
    const frame = whole.subarray(0, end);
    const marks: number[] = [];
    for (let k = 0; k <= delim.length; k++) marks.push(end - k);
    return { bytes: Buffer.from(frame), flags: 0, marks };
  });
}

// ---------------------------------------------------------------- length

export interface PackCode {
  code: string;
  size: number;
  min: number;
  max: number;
  write(b: Buffer, off: number, v: number): void;
}

export const PACK: Record<string, PackCode> = {
  c: { code: 'c', size: 1, min: -128, max: 127, write: (b, o, v) => b.writeInt8(v, o) },
  C: { code: 'C', size: 1, min: 0, max: 255, write: (b, o, v) => b.writeUInt8(v, o) },
  s: { code: 's', size: 2, min: -32768, max: 32767, write: (b, o, v) => b.writeInt16LE(v, o) },
  S: { code: 'S', size: 2, min: 0, max: 65535, write: (b, o, v) => b.writeUInt16LE(v, o) },
  n: { code: 'n', size: 2, min: 0, max: 65535, write: (b, o, v) => b.writeUInt16BE(v, o) },
  v: { code: 'v', size: 2, min: 0, max: 65535, write: (b, o, v) => b.writeUInt16LE(v, o) },
  l: { code: 'l', size: 4, min: -2147483648, max: 2147483647, write: (b, o, v) => b.writeInt32LE(v, o) },
  L: { code: 'L', size: 4, min: 0, max: 4294967295, write: (b, o, v) => b.writeUInt32LE(v, o) },
  N: { code: 'N', size: 4, min: 0, max: 4294967295, write: (b, o, v) => b.writeUInt32BE(v, o) },
  V: { code: 'V', size: 4, min: 0, max: 4294967295, write: (b, o, v) => b.writeUInt32LE(v, o) },
};

export interface LengthCfg {
  type: string;
  lengthOffset: number;
  bodyOffset: number;
}

/** Builds a whole packet of `total` bytes (filler from `fill`) whose length field is right for `cfg`. */
export function lengthPacket(cfg: LengthCfg, total: number, fill: (i: number) => number = (i) => (i * 131 + 7) & 0xff): Buffer {
  const p = PACK[cfg.type];
  const b = owned(new Uint8Array(total));
  for (let i = 0; i < total; i++) b[i] = fill(i);
  p.write(b, cfg.lengthOffset, total - cfg.bodyOffset);
  return b;
}

/** A packet header with an explicit length value (for bad lengths); `extra` bytes of body follow. */
export function lengthHeader(cfg: LengthCfg, value: number, extra = 0): Buffer {
  const p = PACK[cfg.type];
  const b = owned(new Uint8Array(cfg.lengthOffset + p.size + extra).fill(0x2e));
  p.write(b, cfg.lengthOffset, value);
  return b;
}

/** Offsets configurations worth trying for one pack code (incl. body_offset 0 and an overlapping one). */
export function lengthCfgs(type: string): LengthCfg[] {
  const size = PACK[type].size;
  return [
    { type, lengthOffset: 0, bodyOffset: size }, // Swoole's usual: header is just the length
    { type, lengthOffset: 0, bodyOffset: 0 }, // length covers the whole packet
    { type, lengthOffset: 3, bodyOffset: 3 + size + 5 }, // a type/id prefix and a few header bytes after
    { type, lengthOffset: 2, bodyOffset: 0 }, // whole-packet length behind a 2-byte prefix
    { type, lengthOffset: 1, bodyOffset: 1 }, // body_offset inside the length field
    { type, lengthOffset: 0, bodyOffset: 17 }, // header longer than the length field
  ];
}

/** Valid packets for `cfg`: total is at least the header and the length fits the field. */
export function lengthFrameArb(cfg: LengthCfg, maxBody = 80): fc.Arbitrary<GenFrame> {
  const p = PACK[cfg.type];
  const hsize = cfg.lengthOffset + p.size;
  const minTotal = Math.max(hsize, cfg.bodyOffset);
  const maxTotal = Math.min(cfg.bodyOffset + p.max, Math.max(hsize, cfg.bodyOffset) + maxBody);
  return fc.tuple(fc.integer({ min: minTotal, max: maxTotal }), fc.integer({ min: 0, max: 255 })).map(([total, seed]) => {
    const bytes = lengthPacket(cfg, total, (i) => (i * 37 + seed) & 0xff);
    const marks: number[] = [];
    for (let k = 0; k <= hsize + 1; k++) marks.push(k);
    marks.push(total - 1);
    return { bytes, flags: 0, marks };
  });
}

// ---------------------------------------------------------------- http

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = (min: number, max: number) =>
  fc.array(fc.constantFrom(...TCHARS), { minLength: min, maxLength: max }).map((a) => a.join(''));
const vchars = (min: number, max: number) =>
  fc.array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: min, maxLength: max }).map((a) => String.fromCharCode(...a));
/** A field value: visible chars with inner spaces/tabs, plus obs-text. */
const fieldValue = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0x21, max: 0x7e }) },
      { weight: 1, arbitrary: fc.constantFrom(0x20, 0x09) },
      { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
    ),
    { maxLength: 24 },
  )
  .map((a) => String.fromCharCode(...a).trim());
const ows = fc.constantFrom('', ' ', '  ', '\t', ' \t');

// Fields with a meaning for framing or the connection: generated only on purpose.
const SPECIAL = new Set(['content-length', 'transfer-encoding', 'connection', 'proxy-connection', 'upgrade', 'expect']);

/** The frames a connection delivers: after one with FLAG_CLOSE, later requests are ignored. */
export function untilClose(frames: GenFrame[]): GenFrame[] {
  const i = frames.findIndex((f) => (f.flags & 1) !== 0);
  return i < 0 ? frames : frames.slice(0, i + 1);
}

export interface HttpSpec {
  method: string;
  target: string;
  minor: 0 | 1;
  headers: [string, string][];
  /** The values of the Connection headers (none, one, or two). */
  connection: string[];
  body:
    | { kind: 'none' }
    | { kind: 'length'; data: Buffer; dup: boolean; zeros: string }
    | {
        kind: 'chunked';
        chunks: { data: Buffer; size: string; ext: string }[];
        lastExt: string;
        trailers: [string, string][];
        te: string;
      };
}

/** What FLAG_CLOSE should be for this request: "close" wins; HTTP/1.0 closes unless "keep-alive". */
export function expectedClose(minor: number, connection: string[]): boolean {
  const tokens = connection
    .join(',')
    .split(',')
    .map((t) => t.trim().toLowerCase());
  if (tokens.includes('close')) return true;
  if (minor === 0) return !tokens.includes('keep-alive');
  return false;
}

export function buildRequest(spec: HttpSpec & { lead?: string }): GenFrame {
  const marks: number[] = [];
  let head = `${spec.method} ${spec.target} HTTP/1.${spec.minor}\r\n`;
  const lines: string[] = spec.headers.map(([k, v]) => `${k}:${v}\r\n`);
  for (const v of spec.connection) lines.push(`Connection: ${v}\r\n`);
  const body = spec.body;
  if (body.kind === 'length') {
    lines.push(`Content-Length: ${body.zeros}${body.data.length}\r\n`);
    if (body.dup) lines.push(`content-length:${body.data.length} \r\n`);
  } else if (body.kind === 'chunked') {
    lines.push(`Transfer-Encoding: ${body.te}\r\n`);
  }
  // the framing headers go somewhere among the others
  head += lines.join('') + '\r\n';
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  let at = head.length;
  for (let k = 1; k <= 5; k++) marks.push(at - k);
  marks.push(spec.method.length, spec.method.length + 1);
  if (body.kind === 'length') {
    parts.push(body.data);
    at += body.data.length;
  } else if (body.kind === 'chunked') {
    const push = (s: string | Buffer) => {
      const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
      parts.push(b);
      for (let k = 0; k <= Math.min(b.length, 3); k++) marks.push(at + k, at + b.length - k);
      at += b.length;
    };
    for (const ch of body.chunks) {
      push(`${ch.size}${ch.ext}\r\n`);
      push(ch.data);
      push('\r\n');
    }
    push(`0${body.lastExt}\r\n`);
    for (const [k, v] of body.trailers) push(`${k}: ${v}\r\n`);
    push('\r\n');
  }
  const bytes = Buffer.concat(parts);
  const frame: GenFrame = { bytes, flags: expectedClose(spec.minor, spec.connection) ? 1 : 0, marks };
  if (spec.lead) frame.lead = Buffer.from(spec.lead, 'latin1');
  return frame;
}

const bodyBytes = (max: number) =>
  fc
    .oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: max }) },
      // bytes that look like HTTP framing inside a body
      {
        weight: 2,
        arbitrary: fc
          .array(fc.constantFrom(...Buffer.from('\r\n0;GET / HTTP/1.1:')), { maxLength: max })
          .map((a) => Uint8Array.from(a)),
      },
    )
    .map((u) => Buffer.from(u));

/**
 * The methods llhttp knows (node's http.METHODS, less CONNECT, which starts a
 * tunnel, and PRI, which starts HTTP/2); the framer takes any token.
 */
export const LLHTTP_METHODS = [
  'ACL',
  'BIND',
  'CHECKOUT',
  'COPY',
  'DELETE',
  'GET',
  'HEAD',
  'LINK',
  'LOCK',
  'M-SEARCH',
  'MERGE',
  'MKACTIVITY',
  'MKCALENDAR',
  'MKCOL',
  'MOVE',
  'NOTIFY',
  'OPTIONS',
  'PATCH',
  'POST',
  'PROPFIND',
  'PROPPATCH',
  'PURGE',
  'PUT',
  'REBIND',
  'REPORT',
  'SEARCH',
  'SOURCE',
  'SUBSCRIBE',
  'TRACE',
  'UNBIND',
  'UNLINK',
  'UNLOCK',
  'UNSUBSCRIBE',
];

/** A request target as llhttp reads one: origin-form, '*', or absolute-form (authority, then path or query). */
const targetArb = fc.oneof(
  fc.constantFrom('/', '*', '/a/b?c=d&e=f#x', 'http://example.com:80/x', 'http://h?x=1', 'HTTPS://u@[::1]:8/'),
  vchars(0, 40).map((v) => `/${v}`),
  fc
    .tuple(
      fc.array(fc.constantFrom(..."abcXYZ019-._~!$&'()*+,;=:%"), { minLength: 0, maxLength: 12 }),
      fc.constantFrom('/', '?'),
      vchars(0, 12),
    )
    .map(([host, sep, rest]) => `http://${host.join('')}${sep}${rest}`),
);

/**
 * Valid pipelined requests. `llhttp`: only what llhttp strict also takes
 * (its methods, and no HTTP/1.0 request with both "keep-alive" and "close",
 * where the two differ on purpose); otherwise any token method.
 */
export function httpRequestArbFor(opts: { llhttp?: boolean } = {}): fc.Arbitrary<GenFrame> {
  const methods = opts.llhttp
    ? fc.constantFrom(...LLHTTP_METHODS)
    : fc.oneof(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'M-SEARCH', 'X'),
        token(1, 12),
        // methods up to the 32 bytes the early garbage check allows
        token(30, 32),
      );
  return fc
    .record({
      method: methods.filter((m) => m !== 'CONNECT'),
      target: targetArb,
      // the differential test wants long pipelines: fewer requests that close the connection
      minor: opts.llhttp
        ? fc.oneof({ weight: 4, arbitrary: fc.constant<1>(1) }, { weight: 1, arbitrary: fc.constant<0>(0) })
        : fc.constantFrom<0 | 1>(0, 1),
      lead: fc.constantFrom('', '', '', '', '', '\r\n', '\n', '\r\n\r\n', '\r'),
      headers: fc
        .array(fc.tuple(token(1, 16), ows, fieldValue, ows), { maxLength: 6 })
        .map((hs) => hs.filter(([k]) => !SPECIAL.has(k.toLowerCase())).map(([k, a, v, b]) => [k, a + v + b] as [string, string])),
      connection: fc.oneof(
        { weight: opts.llhttp ? 8 : 3, arbitrary: fc.constant<string[]>([]) },
        {
          weight: 2,
          arbitrary: fc.array(
            fc.constantFrom(
              'close',
              'CLOSE',
              'keep-alive',
              'Keep-Alive',
              'Upgrade, close',
              'keep-alive, Upgrade',
              ' close ,x',
              'upgrade',
              'closed',
              '',
              'close, keep-alive',
              'keep-alive, close',
              'keep-alive,,close',
            ),
            { minLength: 1, maxLength: 2 },
          ),
        },
      ),
      bodyKind: fc.constantFrom('none', 'length', 'chunked'),
      data: bodyBytes(90),
      zeros: fc.constantFrom('', '', '', '0', '000'),
      chunks: fc.array(
        fc.record({
          data: bodyBytes(40).filter((b) => b.length > 0),
          upper: fc.boolean(),
          lead: fc.constantFrom('', '', '0', '00'),
          // RFC 9112 7.1 chunk-ext without BWS (llhttp strict refuses whitespace there)
          ext: fc.constantFrom('', '', '', ';a=b', ';name="q v"', ';x', ';a;b=c', ';e="a\\"b\\\\"', ';t=%2A'),
        }),
        { maxLength: 4 },
      ),
      lastExt: fc.constantFrom('', '', ';last', ';a=1'),
      trailers: fc.array(fc.tuple(token(1, 10), fieldValue), { maxLength: 2 }),
      te: fc.constantFrom('chunked', 'Chunked', 'gzip, chunked', 'gzip,chunked', 'gzip , chunked ', 'x,\tchunked'),
    })
    .filter((r) => {
      if (!opts.llhttp || r.minor !== 0) return true;
      const tokens = r.connection.join(',').toLowerCase();
      return !(tokens.includes('close') && tokens.includes('keep-alive'));
    })
    .map((r) => {
      let body: HttpSpec['body'] = { kind: 'none' };
      // chunked needs HTTP/1.1 (the core refuses Transfer-Encoding in 1.0)
      if (r.bodyKind === 'length') body = { kind: 'length', data: r.data, dup: false, zeros: r.zeros };
      else if (r.bodyKind === 'chunked' && r.minor === 1) {
        body = {
          kind: 'chunked',
          chunks: r.chunks.map((ch) => {
            const hex = ch.data.length.toString(16);
            return { data: ch.data, size: ch.lead + (ch.upper ? hex.toUpperCase() : hex), ext: ch.ext };
          }),
          lastExt: r.lastExt,
          trailers: r.trailers.filter(([k]) => !SPECIAL.has(k.toLowerCase())),
          te: r.te,
        };
      }
      return buildRequest({
        method: r.method,
        target: r.target,
        minor: r.minor,
        headers: r.headers,
        connection: r.connection,
        body,
        lead: r.lead,
      });
    });
}

export const httpRequestArb: fc.Arbitrary<GenFrame> = httpRequestArbFor();

// ---------------------------------------------------------------- splits

/**
 * Cut points for a stream of `len` bytes with interesting offsets `marks`:
 * some random, some right at marks (inside delimiters and headers).
 */
export const cutsArb = fc.record({
  random: fc.array(fc.nat(), { maxLength: 12 }),
  marked: fc.array(fc.nat(), { maxLength: 16 }),
  dense: fc.boolean(),
});

export function pickCuts(len: number, marks: number[], c: { random: number[]; marked: number[]; dense: boolean }): number[] {
  const cuts: number[] = [];
  if (len < 2) return cuts;
  for (const r of c.random) cuts.push(1 + (r % (len - 1)));
  if (marks.length) {
    if (c.dense) cuts.push(...marks);
    else for (const m of c.marked) cuts.push(marks[m % marks.length]);
  }
  return normalizeCuts(len, cuts);
}
