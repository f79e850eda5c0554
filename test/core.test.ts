// The WASM framing core through its binding: split-invariance properties for
// every protocol, every error status from real bytes, zero-copy and copy
// semantics, a 64 MiB frame, and memory reaching a steady size under churn.
import { describe, it, expect, beforeEach } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { core, Core } from '../src/core.js';
import { Settings } from '../src/settings.js';
import { CoreAbort, framingError } from '../src/errors.js';
import {
  type GenFrame,
  type LengthCfg,
  type FeedResult,
  owned,
  joinFrames,
  splitAt,
  oneByteChunks,
  feedAll,
  feedInterleaved,
  feedOne,
  expectFrames,
  lookahead,
  eofFrameArb,
  lengthFrameArb,
  lengthCfgs,
  lengthPacket,
  lengthHeader,
  httpRequestArb,
  cutsArb,
  pickCuts,
  PACK,
  untilClose,
} from './helpers/frames.js';

const c = core();
const settings = new Settings();

const OK = 0;
const ERR_FRAME_TOO_LARGE = 1;
const ERR_BAD_LENGTH = 2;
const ERR_BAD_HTTP = 3;
const FLAG_CLOSE = 1;
const MiB = 1024 * 1024;

type Config = Record<string, string | number | Buffer>;

/** Resets the store, applies `cfg`, and opens a connection with that snapshot. */
function openWith(cfg: Config): number {
  settings.reset();
  for (const [k, v] of Object.entries(cfg)) settings.set(k, v);
  return c.open(settings.store);
}

function lengthConfig(cfg: LengthCfg, extra: Config = {}): Config {
  return {
    protocol: 'length',
    package_length_type: cfg.type,
    package_length_offset: cfg.lengthOffset,
    package_body_offset: cfg.bodyOffset,
    ...extra,
  };
}

beforeEach(() => {
  settings.reset();
});

/**
 * The split-invariance check: the unsplit stream, a split at random and
 * marked cut points, and 1-byte chunks (the last two fed interleaved on two
 * connections open at once) all give exactly the generated frames and flags.
 * Before every feed, the bytes that come next are planted just past the
 * chunk's end in the core's input area (see `lookahead`).
 */
function checkSplits(cfg: Config, all: GenFrame[], cuts: { random: number[]; marked: number[]; dense: boolean }): void {
  const { stream, marks } = joinFrames(all);
  const frames = cfg.protocol === 'http' ? untilClose(all) : all;
  const raw = openWith({ protocol: 'raw' });
  const plant = lookahead(c, raw, stream);
  const whole = openWith(cfg);
  try {
    plant(stream);
    const r = feedAll(c, whole, [stream]);
    expectFrames(r, frames, 'unsplit', [stream]);
    expect(c.buffered(whole)).toBe(0);
  } finally {
    c.close(whole);
  }
  const chunks = splitAt(stream, pickCuts(stream.length, marks, cuts));
  const ones = oneByteChunks(stream);
  const a = c.open(settings.store);
  const b = c.open(settings.store);
  try {
    const [ra, rb] = feedInterleaved(c, a, chunks, b, ones, plant);
    expectFrames(ra, frames, `split at ${chunks.map((x) => x.length).join('+')}`, chunks);
    expectFrames(rb, frames, '1-byte chunks', ones);
    expect(c.buffered(a)).toBe(0);
    expect(c.buffered(b)).toBe(0);
  } finally {
    c.close(a);
    c.close(b);
    c.close(raw);
  }
}

/**
 * The limit check: with package_max_length = `max`, any split gives the
 * frames before the first one longer than `max`, then ERR_FRAME_TOO_LARGE
 * (or no error if none is longer), and never buffers more than `max` bytes.
 */
function checkLimit(
  cfg: Config,
  frames: GenFrame[],
  max: number,
  cuts: { random: number[]; marked: number[]; dense: boolean },
): void {
  const kept = cfg.protocol === 'http' ? untilClose(frames) : frames;
  const firstBig = kept.findIndex((f) => f.bytes.length > max);
  const want = firstBig < 0 ? kept : kept.slice(0, firstBig);
  const { stream, marks } = joinFrames(frames);
  for (const chunks of [[stream], splitAt(stream, pickCuts(stream.length, marks, cuts)), oneByteChunks(stream)]) {
    const conn = openWith({ ...cfg, package_max_length: max });
    try {
      const r = feedAll(c, conn, chunks, false, () => {
        if (c.buffered(conn) > max) throw new Error(`buffered ${c.buffered(conn)} > max ${max}`);
      });
      expect(r.error).toBe(firstBig < 0 ? OK : ERR_FRAME_TOO_LARGE);
      expectFrames({ ...r, error: 0 }, want, `max ${max}, chunks ${chunks.length}`);
    } finally {
      c.close(conn);
    }
  }
}

function limitArb(frames: fc.Arbitrary<GenFrame>) {
  return fc.tuple(fc.array(frames, { minLength: 1, maxLength: 8 }), fc.nat(), cutsArb).map(([fs, pick, cuts]) => {
    const lens = fs.map((f) => f.bytes.length);
    const lo = Math.min(...lens);
    const hi = Math.max(...lens);
    // a max at, just below, or anywhere between the frame sizes
    const choices = [hi, hi - 1, lo, lo + ((pick >> 3) % (hi - lo + 1))].filter((m) => m >= lo);
    return { frames: fs, max: choices[pick % choices.length], cuts };
  });
}

// ============================================================== properties

describe('split invariance (property)', () => {
  it('raw: every chunk is one message, as a zero-copy view of that chunk', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 600 }), cutsArb, (bytes, cuts) => {
        const stream = owned(bytes);
        const chunks = splitAt(stream, pickCuts(stream.length, [], cuts));
        const conn = openWith({ protocol: 'raw' });
        try {
          const r = feedAll(c, conn, chunks);
          expect(r.error).toBe(OK);
          expect(r.frames.length).toBe(chunks.length);
          r.frames.forEach((m, i) => {
            expect(m.equals(chunks[i])).toBe(true);
            expect(r.zeroCopy[i]).toBe(true);
            expect(r.flags[i]).toBe(0);
          });
          expect(c.buffered(conn)).toBe(0);
        } finally {
          c.close(conn);
        }
      }),
      { numRuns: 150 },
    );
  });

  const delimiters: [string, Buffer][] = [
    ['\\r\\n (default)', Buffer.from('\r\n')],
    ['1 byte \\n', Buffer.from('\n')],
    ['1 byte NUL', Buffer.from([0])],
    ['\\r\\n\\r\\n', Buffer.from('\r\n\r\n')],
    ['aab', Buffer.from('aab')],
    ['abab', Buffer.from('abab')],
    ['8 bytes 12345678', Buffer.from('12345678')],
    ['8 bytes aaaaaaab', Buffer.from('aaaaaaab')],
    ['8 bytes with 0xff', Buffer.from([0xff, 0xfe, 0xff, 0xfe, 0xff, 0xfe, 0xff, 0x00])],
  ];
  for (const [name, delim] of delimiters) {
    it(`eof ${name}: any split yields the frames of the unsplit stream`, () => {
      const cfg: Config = { protocol: 'eof', package_eof: delim.toString('latin1') };
      if (delim.some((b) => b > 0x7f)) cfg.package_eof = delim; // raw bytes, not UTF-8 of latin1
      fc.assert(
        fc.property(fc.array(eofFrameArb(delim), { maxLength: 12 }), cutsArb, (frames, cuts) => {
          checkSplits(cfg, frames, cuts);
        }),
        { numRuns: 250 },
      );
    });
  }

  for (const type of Object.keys(PACK)) {
    it(`length '${type}': any split yields the frames of the unsplit stream, for several offsets`, () => {
      const cfgArb = fc.constantFrom(...lengthCfgs(type));
      const arb = cfgArb.chain((cfg) => fc.tuple(fc.constant(cfg), fc.array(lengthFrameArb(cfg), { maxLength: 10 }), cutsArb));
      fc.assert(
        fc.property(arb, ([cfg, frames, cuts]) => {
          checkSplits(lengthConfig(cfg), frames, cuts);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('http: any split of pipelined requests yields the same requests and FLAG_CLOSE flags', () => {
    fc.assert(
      fc.property(fc.array(httpRequestArb, { maxLength: 6 }), cutsArb, (frames, cuts) => {
        checkSplits({ protocol: 'http' }, frames, cuts);
      }),
      { numRuns: 800 },
    );
  });

  it('eof: a chunk ending inside the delimiter never matches, at every alignment, even when the next bytes sit past its end', () => {
    // The delimiter search works 16 bytes at a time: try every frame length
    // modulo the block, every cut inside the delimiter, and frames that start
    // at every offset of the chunk.
    for (const [, delim] of delimiters) {
      for (let lead = 0; lead < 3; lead++) {
        for (let body = 0; body <= 40; body++) {
          const prefix = Buffer.concat(Array.from({ length: lead }, () => Buffer.concat([Buffer.from('p'), delim])));
          const frame = Buffer.concat([Buffer.alloc(body, 0x41), delim]);
          const stream = owned(Buffer.concat([prefix, frame, Buffer.from('z'), delim]));
          const raw = openWith({ protocol: 'raw' });
          const plant = lookahead(c, raw, stream, 24);
          const conn = openWith({ protocol: 'eof', package_eof: delim });
          for (let k = 1; k < delim.length; k++) {
            const cut = prefix.length + body + k;
            const chunks = splitAt(stream, [cut]);
            const r: FeedResult = { frames: [], flags: [], zeroCopy: [], error: 0, errorChunk: -1 };
            plant(chunks[0]);
            feedOne(c, conn, chunks[0], r, 0);
            if (r.frames.length !== lead)
              throw new Error(
                `delim ${JSON.stringify(delim.toString('latin1'))} lead ${lead} body ${body} cut ${k}: ${r.frames.length} frames before the cut`,
              );
            plant(chunks[1]);
            feedOne(c, conn, chunks[1], r, 1);
            expectFrames(
              r,
              [
                ...Array.from({ length: lead }, () => ({ bytes: Buffer.concat([Buffer.from('p'), delim]), flags: 0, marks: [] })),
                { bytes: frame, flags: 0, marks: [] },
                { bytes: Buffer.concat([Buffer.from('z'), delim]), flags: 0, marks: [] },
              ],
              `delim ${JSON.stringify(delim.toString('latin1'))} lead ${lead} body ${body} cut ${k}`,
            );
          }
          c.close(conn);
          c.close(raw);
        }
      }
    }
  });

  it("http: a chunk ending inside the head's CRLFCRLF never completes it, at every alignment", () => {
    for (let pad = 0; pad <= 40; pad++) {
      const req = b(`GET /${'a'.repeat(pad)} HTTP/1.1\r\n\r\n`);
      for (const lead of [Buffer.alloc(0), GET]) {
        const stream = owned(Buffer.concat([lead, req, GET]));
        const raw = openWith({ protocol: 'raw' });
        const plant = lookahead(c, raw, stream, 24);
        for (let k = 1; k < 4; k++) {
          const conn = openWith({ protocol: 'http' });
          const chunks = splitAt(stream, [lead.length + req.length - k]);
          const r: FeedResult = { frames: [], flags: [], zeroCopy: [], error: 0, errorChunk: -1 };
          plant(chunks[0]);
          feedOne(c, conn, chunks[0], r, 0);
          expect(r.frames.length, `pad ${pad} cut ${k}`).toBe(lead.length ? 1 : 0);
          plant(chunks[1]);
          feedOne(c, conn, chunks[1], r, 1);
          expectFrames(
            r,
            [...(lead.length ? [lead] : []), req, GET].map((x) => ({ bytes: x, flags: 0, marks: [] })),
            `pad ${pad} cut ${k}`,
          );
          c.close(conn);
        }
        c.close(raw);
      }
    }
  });

  it('http: the generator covers GET, bodies, chunked with extensions and trailers, and both flags', () => {
    const sample = fc.sample(httpRequestArb, { numRuns: 400, seed: 42 });
    const text = sample.map((f) => f.bytes.toString('latin1'));
    expect(text.some((t) => t.startsWith('GET '))).toBe(true);
    expect(text.some((t) => /\r\ncontent-length:/i.test(t))).toBe(true);
    expect(text.some((t) => /\r\nTransfer-Encoding:/.test(t) && /\r\n[0-9a-fA-F]+;/.test(t))).toBe(true);
    expect(text.some((t) => /\r\n0[^\r]*\r\n[^\r]/.test(t))).toBe(true); // a trailer after the last chunk
    expect(text.some((t) => / HTTP\/1\.0\r\n/.test(t))).toBe(true);
    expect(sample.some((f) => f.flags === FLAG_CLOSE)).toBe(true);
    expect(sample.some((f) => f.flags === 0)).toBe(true);
  });

  it('eof: package_max_length is inclusive and enforced under any split', () => {
    const arb = fc
      .constantFrom(...delimiters.map(([, d]) => d))
      .chain((d) => fc.tuple(fc.constant(d), limitArb(eofFrameArb(d, 60))));
    fc.assert(
      fc.property(arb, ([delim, { frames, max, cuts }]) => {
        checkLimit({ protocol: 'eof', package_eof: delim }, frames, max, cuts);
      }),
      { numRuns: 400 },
    );
  });

  it('length: package_max_length is inclusive and enforced under any split', () => {
    const cfgs = Object.keys(PACK).flatMap(lengthCfgs);
    const arb = fc.constantFrom(...cfgs).chain((cfg) => fc.tuple(fc.constant(cfg), limitArb(lengthFrameArb(cfg))));
    fc.assert(
      fc.property(arb, ([cfg, { frames, max, cuts }]) => {
        checkLimit(lengthConfig(cfg), frames, max, cuts);
      }),
      { numRuns: 400 },
    );
  });

  it('http: package_max_length is inclusive and enforced under any split', () => {
    fc.assert(
      fc.property(limitArb(httpRequestArb), ({ frames, max, cuts }) => {
        checkLimit({ protocol: 'http' }, frames, max, cuts);
      }),
      { numRuns: 500 },
    );
  });
});

// ============================================================== errors

interface ErrorCase {
  name: string;
  cfg: Config;
  /** Valid frames that precede the bad bytes. */
  good: Buffer[];
  bad: Buffer;
  error: number;
  /** A valid frame for this configuration (fed after the error, and on a sibling connection). */
  valid: Buffer;
}

const b = (s: string) => Buffer.from(s, 'latin1');
const GET = b('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
const POST5 = b('POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello');
const http = (head: string) => b(head);

function errorCases(): ErrorCase[] {
  const cases: ErrorCase[] = [];
  const eofMax = 64;
  // ---- eof
  cases.push({
    name: 'eof: no delimiter within package_max_length',
    cfg: { protocol: 'eof', package_max_length: eofMax },
    good: [b('one\r\n'), b('two\r\n')],
    bad: b('x'.repeat(eofMax) + '\r\n'),
    error: ERR_FRAME_TOO_LARGE,
    valid: b('ok\r\n'),
  });
  cases.push({
    name: 'eof: delimiter one byte past package_max_length (8-byte delimiter)',
    cfg: { protocol: 'eof', package_eof: '12345678', package_max_length: eofMax },
    good: [b('a12345678')],
    bad: b('y'.repeat(eofMax - 7) + '12345678'),
    error: ERR_FRAME_TOO_LARGE,
    valid: b('ok12345678'),
  });
  // ---- length
  const N: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 4 };
  cases.push({
    name: "length 'N': header announces more than package_max_length",
    cfg: lengthConfig(N, { package_max_length: 100 }),
    good: [lengthPacket(N, 10), lengthPacket(N, 100)],
    bad: lengthHeader(N, 97, 20),
    error: ERR_FRAME_TOO_LARGE,
    valid: lengthPacket(N, 8),
  });
  for (const type of ['L', 'N', 'V']) {
    const cfg: LengthCfg = { type, lengthOffset: 2, bodyOffset: 6 };
    cases.push({
      name: `length '${type}': 0xffffffff is a huge length, not a negative one`,
      cfg: lengthConfig(cfg),
      good: [lengthPacket(cfg, 7)],
      bad: lengthHeader(cfg, 0xffffffff, 3),
      error: ERR_FRAME_TOO_LARGE,
      valid: lengthPacket(cfg, 9),
    });
  }
  for (const [type, value] of [
    ['l', -1],
    ['l', -2147483648],
    ['c', -1],
    ['c', -128],
    ['s', -1],
    ['s', -32768],
  ] as const) {
    const cfg: LengthCfg = { type, lengthOffset: 1, bodyOffset: 1 + PACK[type].size };
    cases.push({
      name: `length '${type}': negative length ${value}`,
      cfg: lengthConfig(cfg),
      good: [lengthPacket(cfg, 5), lengthPacket(cfg, 12)],
      bad: lengthHeader(cfg, value, 8),
      error: ERR_BAD_LENGTH,
      valid: lengthPacket(cfg, 6),
    });
  }
  const whole: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 0 };
  for (const value of [0, 1, 3]) {
    cases.push({
      name: `length 'N' body_offset 0: length ${value} is shorter than its own header`,
      cfg: lengthConfig(whole),
      good: [lengthPacket(whole, 4), lengthPacket(whole, 9)],
      bad: lengthHeader(whole, value, 8),
      error: ERR_BAD_LENGTH,
      valid: lengthPacket(whole, 5),
    });
  }
  const prefixed: LengthCfg = { type: 'n', lengthOffset: 3, bodyOffset: 0 };
  cases.push({
    name: "length 'n' offset 3 body_offset 0: total 4 is inside the 5-byte header",
    cfg: lengthConfig(prefixed),
    good: [lengthPacket(prefixed, 5)],
    bad: lengthHeader(prefixed, 4, 8),
    error: ERR_BAD_LENGTH,
    valid: lengthPacket(prefixed, 7),
  });
  const overlap: LengthCfg = { type: 'C', lengthOffset: 1, bodyOffset: 1 };
  cases.push({
    name: "length 'C' offset 1 body_offset 1: total 1 + 0 is inside the 2-byte header",
    cfg: lengthConfig(overlap),
    good: [lengthPacket(overlap, 2)],
    bad: lengthHeader(overlap, 0, 8),
    error: ERR_BAD_LENGTH,
    valid: lengthPacket(overlap, 3),
  });
  // ---- http: too large
  const hmax = 200;
  const H = { protocol: 'http', package_max_length: hmax };
  cases.push({
    name: 'http: head longer than package_max_length',
    cfg: H,
    good: [GET, POST5],
    bad: http('GET / HTTP/1.1\r\nX-Long: ' + 'v'.repeat(hmax) + '\r\n\r\n'),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  cases.push({
    name: 'http: Content-Length above package_max_length',
    cfg: H,
    good: [GET],
    bad: http(`POST / HTTP/1.1\r\nContent-Length: ${hmax + 1}\r\n\r\nabc`),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  const clHead = (n: number) => `POST / HTTP/1.1\r\nContent-Length: ${n}\r\n\r\n`;
  const clFit = hmax - clHead(100).length; // a 3-digit Content-Length that fills the frame exactly
  cases.push({
    name: 'http: head plus Content-Length exactly package_max_length, then one byte above',
    cfg: H,
    good: [GET, http(clHead(clFit) + 'b'.repeat(clFit))],
    bad: http(clHead(clFit + 1)),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  cases.push({
    name: 'http: absurd Content-Length (30 digits)',
    cfg: H,
    good: [GET],
    bad: http('POST / HTTP/1.1\r\nContent-Length: 999999999999999999999999999999\r\n\r\n'),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  cases.push({
    name: 'http: chunk size above package_max_length',
    cfg: H,
    good: [GET],
    bad: http(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${(hmax + 1).toString(16)}\r\n`),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  cases.push({
    name: 'http: huge chunk size (20 hex digits)',
    cfg: H,
    good: [GET],
    bad: http('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n'),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  cases.push({
    name: 'http: many small chunks add up past package_max_length',
    cfg: H,
    good: [GET],
    bad: http('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' + 'a\r\n0123456789\r\n'.repeat(20) + '0\r\n\r\n'),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  cases.push({
    name: 'http: trailers run past package_max_length',
    cfg: H,
    good: [GET],
    bad: http('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n' + 'T: v\r\n'.repeat(40) + '\r\n'),
    error: ERR_FRAME_TOO_LARGE,
    valid: GET,
  });
  // ---- http: malformed
  const bad = (name: string, text: string) =>
    cases.push({
      name: `http: ${name}`,
      cfg: { protocol: 'http' },
      good: [GET, POST5],
      bad: http(text),
      error: ERR_BAD_HTTP,
      valid: GET,
    });
  bad('request line without a version (HTTP/0.9)', 'GET /\r\nHost: x\r\n\r\n');
  bad('HTTP/2.0 request line', 'GET / HTTP/2.0\r\n\r\n');
  bad('lower-case http version', 'GET / http/1.1\r\n\r\n');
  bad('non-digit minor version', 'GET / HTTP/1.x\r\n\r\n');
  bad('two spaces before the target', 'GET  / HTTP/1.1\r\n\r\n');
  bad('space after the version', 'GET / HTTP/1.1 \r\n\r\n');
  bad('control byte in the target', 'GET /a\x01b HTTP/1.1\r\n\r\n');
  bad('bad byte in the method', 'G(T / HTTP/1.1\r\n\r\n');
  bad('method longer than 32 bytes', 'A'.repeat(40) + ' / HTTP/1.1\r\n\r\n');
  bad('method of 33 bytes', 'M'.repeat(33) + ' / HTTP/1.1\r\n\r\n');
  bad('header without a colon', 'GET / HTTP/1.1\r\nHost example.com\r\n\r\n');
  bad('space in a header name', 'GET / HTTP/1.1\r\nBad Name: x\r\n\r\n');
  bad('space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n');
  bad('empty header name', 'GET / HTTP/1.1\r\n: x\r\n\r\n');
  bad('NUL in a header value', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n');
  bad('bare CR in a header value', 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n');
  bad('obs-fold (continuation line)', 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n');
  bad('obs-fold with a tab', 'GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n');
  bad('non-digit Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 1a\r\n\r\n');
  bad('signed Content-Length', 'POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello');
  bad('negative Content-Length', 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n');
  bad('empty Content-Length', 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n');
  bad('hex Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello');
  bad('Content-Length with inner space', 'POST / HTTP/1.1\r\nContent-Length: 1 0\r\n\r\n');
  bad('Content-Length list', 'POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello');
  bad('conflicting Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!');
  bad(
    'Transfer-Encoding then Content-Length',
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
  );
  bad(
    'Content-Length then Transfer-Encoding',
    'POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  );
  bad('Transfer-Encoding not ending in chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n');
  bad('Transfer-Encoding: gzip', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n');
  bad('Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  const TE = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
  bad('non-hex chunk size', TE + 'zz\r\n');
  bad('empty chunk size', TE + '\r\nhello\r\n0\r\n\r\n');
  bad('negative chunk size', TE + '-1\r\n');
  bad('chunk size ended by a bare LF', TE + '5\nhello\r\n0\r\n\r\n');
  bad('control byte in a chunk extension', TE + '5;a\x01\r\nhello\r\n0\r\n\r\n');
  bad('chunk data longer than its size', TE + '5\r\nhelloX\r\n0\r\n\r\n');
  bad('chunk data CR without LF', TE + '5\r\nhello\rX0\r\n\r\n');
  bad('bad trailer line', TE + '0\r\n:x\r\n\r\n');
  bad('last chunk without the final CRLF', TE + '0\r\n\r\r\n');
  // (CR and LF are skipped before a request line: test/http.test.ts)
  for (const g of [0x00, 0x01, 0x09, 0x20, 0x7f, 0x80, 0xff, 0x28, 0x7b, 0x3a, 0x2c]) {
    cases.push({
      name: `http: garbage first byte 0x${g.toString(16).padStart(2, '0')}`,
      cfg: { protocol: 'http' },
      good: [GET, POST5],
      bad: Buffer.from([g]),
      error: ERR_BAD_HTTP,
      valid: GET,
    });
  }
  return cases;
}

describe('errors from real bytes', () => {
  it('every framing status maps to its error code', () => {
    expect(framingError(ERR_FRAME_TOO_LARGE).code).toBe('ERR_FRAME_TOO_LARGE');
    expect(framingError(ERR_BAD_LENGTH).code).toBe('ERR_BAD_LENGTH');
    expect(framingError(ERR_BAD_HTTP).code).toBe('ERR_BAD_HTTP');
  });

  for (const ec of errorCases()) {
    it(ec.name, () => {
      const max = Number(ec.cfg.package_max_length ?? 2 * MiB);
      const stream = Buffer.concat([...ec.good, ec.bad]);
      const want = ec.good.map((g) => ({ bytes: g, flags: 0, marks: [] }));
      const splits: [string, Buffer[]][] = [
        ['one chunk', [owned(stream)]],
        ['1-byte chunks', oneByteChunks(owned(stream))],
        ['good frames, then the bad bytes', [owned(Buffer.concat(ec.good)), owned(ec.bad)]],
        [
          '3-byte chunks',
          splitAt(
            owned(stream),
            Array.from({ length: stream.length }, (_, i) => i * 3),
          ),
        ],
      ];
      for (const [label, chunks] of splits) {
        settings.reset();
        for (const [k, v] of Object.entries(ec.cfg)) settings.set(k, v);
        const conn = c.open(settings.store);
        const sibling = c.open(settings.store);
        const sib: FeedResult = { frames: [], flags: [], zeroCopy: [], error: 0, errorChunk: -1 };
        const r: FeedResult = { frames: [], flags: [], zeroCopy: [], error: 0, errorChunk: -1 };
        try {
          let k = 0;
          for (; k < chunks.length && !r.error; k++) {
            feedOne(c, conn, chunks[k], r, k);
            expect(c.buffered(conn), `${label}: buffered after chunk ${k}`).toBeLessThanOrEqual(max);
            // the sibling, opened at the same time, frames valid bytes in between
            const v = owned(ec.valid);
            feedOne(c, sibling, v, sib, k);
          }
          expect(r.error, `${label}: error`).toBe(ec.error);
          // the error is reported by the feed that completes the bad bytes, not earlier:
          // every good frame came out first
          expectFrames({ ...r, error: 0 }, want, `${label}: frames before the error`);
          if (label === 'one chunk') expect(r.errorChunk).toBe(0);
          // sticky: later bytes, even valid frames, are refused with the same status
          for (const more of [owned(ec.valid), owned(Buffer.concat([ec.valid, ec.valid]))]) {
            expect(c.feed(conn, more)).toBe(0);
            expect(c.error).toBe(ec.error);
          }
          expect(c.buffered(conn)).toBeLessThanOrEqual(max);
          // the sibling kept working throughout, and still does
          const last = owned(Buffer.concat([ec.valid, ec.valid]));
          expect(c.feed(sibling, last)).toBe(2);
          expect(c.error).toBe(OK);
          expect(c.message(last, 1).equals(ec.valid)).toBe(true);
          expect(sib.error).toBe(OK);
          expect(sib.frames.length).toBe(k);
          for (const f of sib.frames) expect(f.equals(ec.valid)).toBe(true);
          // a new connection after the error works too
          const fresh = c.open(settings.store);
          const v = owned(ec.valid);
          expect(c.feed(fresh, v)).toBe(1);
          expect(c.error).toBe(OK);
          c.close(fresh);
        } finally {
          c.close(conn);
          c.close(sibling);
        }
      }
    });
  }

  it('eof: the limit is checked before buffering more (1 KiB chunks, no delimiter)', () => {
    const max = 64 * 1024 + 100;
    const conn = openWith({ protocol: 'eof', package_max_length: max });
    const chunk = owned(Buffer.alloc(1024, 0x61));
    let fed = 0;
    while (!c.error) {
      expect(c.feed(conn, chunk)).toBe(0);
      fed += chunk.length;
      expect(c.buffered(conn)).toBeLessThanOrEqual(max);
      if (fed < max) expect(c.error).toBe(OK);
    }
    expect(c.error).toBe(ERR_FRAME_TOO_LARGE);
    expect(fed).toBe(Math.ceil(max / 1024) * 1024); // the first chunk that reaches max fails
    c.close(conn);
  });

  it('eof: a frame of exactly package_max_length is accepted, one more byte is refused, under 1-byte chunks', () => {
    for (const delim of ['\r\n', '12345678', 'x']) {
      for (const [len, want] of [
        [100, OK],
        [101, ERR_FRAME_TOO_LARGE],
      ] as const) {
        const frame = owned('a'.repeat(len - delim.length) + delim);
        const conn = openWith({ protocol: 'eof', package_eof: delim, package_max_length: 100 });
        const r = feedAll(c, conn, oneByteChunks(frame), false, () => expect(c.buffered(conn)).toBeLessThanOrEqual(100));
        expect(r.error).toBe(want);
        expect(r.frames.length).toBe(want === OK ? 1 : 0);
        c.close(conn);
      }
    }
  });

  it('length: the limit is checked from the header alone, before any body byte is buffered', () => {
    for (const type of Object.keys(PACK)) {
      const cfg: LengthCfg = { type, lengthOffset: 2, bodyOffset: 2 + PACK[type].size };
      const max = Math.min(120, cfg.bodyOffset + PACK[type].max);
      const conn = openWith(lengthConfig(cfg, { package_max_length: max }));
      const header = lengthHeader(cfg, max - cfg.bodyOffset + 1);
      const r = feedAll(c, conn, oneByteChunks(header));
      expect(r.error, type).toBe(ERR_FRAME_TOO_LARGE);
      expect(r.errorChunk, type).toBe(header.length - 1);
      expect(c.buffered(conn)).toBeLessThanOrEqual(header.length);
      c.close(conn);
      // the header and body bytes in one chunk: refused without buffering anything
      const conn2 = openWith(lengthConfig(cfg, { package_max_length: max }));
      expect(c.feed(conn2, owned(Buffer.concat([header, Buffer.alloc(60)])))).toBe(0);
      expect(c.error).toBe(ERR_FRAME_TOO_LARGE);
      expect(c.buffered(conn2)).toBe(0);
      c.close(conn2);
    }
  });

  it('http: a Content-Length above the limit fails as soon as its line is complete', () => {
    const conn = openWith({ protocol: 'http', package_max_length: 1000 });
    const head = owned('POST / HTTP/1.1\r\nContent-Length: 5000\r\nHost: x\r\n\r\n');
    const r = feedAll(c, conn, oneByteChunks(head));
    expect(r.error).toBe(ERR_FRAME_TOO_LARGE);
    expect(r.errorChunk).toBe(head.indexOf('\r\nHost') + 1);
    c.close(conn);
  });

  it('http: a chunk size above the limit fails at the size line, before its data', () => {
    const conn = openWith({ protocol: 'http', package_max_length: 1000 });
    const head = owned('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000');
    const r = feedAll(c, conn, oneByteChunks(head));
    expect(r.error).toBe(ERR_FRAME_TOO_LARGE);
    expect(r.errorChunk).toBeLessThanOrEqual(head.length - 1);
    c.close(conn);
  });

  it('http: garbage is refused early, long before package_max_length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }).filter(
          (x) =>
            !"!#$%&'*+-.^_`|~".includes(String.fromCharCode(x)) &&
            !/[0-9A-Za-z]/.test(String.fromCharCode(x)) &&
            // CR and LF before a request line are skipped, not refused
            x !== 0x0d &&
            x !== 0x0a,
        ),
        fc.uint8Array({ maxLength: 30 }),
        (first, rest) => {
          const conn = openWith({ protocol: 'http' });
          const chunk = owned(Buffer.concat([Buffer.from([first]), rest]));
          expect(c.feed(conn, chunk)).toBe(0);
          expect(c.error).toBe(ERR_BAD_HTTP);
          c.close(conn);
        },
      ),
      { numRuns: 200 },
    );
    // a binary stream of tchars with no space is refused once the method exceeds 32 bytes
    const conn = openWith({ protocol: 'http' });
    const r = feedAll(c, conn, oneByteChunks(owned('A'.repeat(100))));
    expect(r.error).toBe(ERR_BAD_HTTP);
    expect(r.errorChunk).toBe(32);
    c.close(conn);
  });

  it('http: a 32-byte method is accepted under any split', () => {
    const req = owned('M'.repeat(32) + ' /x HTTP/1.1\r\nHost: h\r\n\r\n');
    for (const chunks of [[req], oneByteChunks(req), splitAt(req, [31, 32, 33])]) {
      const conn = openWith({ protocol: 'http' });
      const r = feedAll(c, conn, chunks);
      expectFrames(r, [{ bytes: req, flags: 0, marks: [] }], `${chunks.length} chunks`);
      c.close(conn);
    }
  });

  it('http: a frame whose chunked body ends exactly at package_max_length is accepted, one byte more is refused', () => {
    const max = 100;
    const head = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
    const make = (total: number) => {
      for (let d = 1; d < total; d++) {
        const r = `${head}${d.toString(16)}\r\n${'a'.repeat(d)}\r\n0\r\n\r\n`;
        if (r.length === total) return owned(r);
      }
      throw new Error('no size');
    };
    for (const [total, want] of [
      [max, OK],
      [max + 1, ERR_FRAME_TOO_LARGE],
    ] as const) {
      const frame = make(total);
      for (const chunks of [[frame], oneByteChunks(frame)]) {
        const conn = openWith({ protocol: 'http', package_max_length: max });
        const r = feedAll(c, conn, chunks);
        expect(r.error, `total ${total}, ${chunks.length} chunks`).toBe(want);
        expect(r.frames.length).toBe(want === OK ? 1 : 0);
        c.close(conn);
      }
    }
  });
});

describe('empty chunks', () => {
  it('an empty chunk yields nothing and changes nothing, mid-frame and right after a span', () => {
    const empty = owned(Buffer.alloc(0));
    const cases: [Config, Buffer][] = [
      [{ protocol: 'raw' }, b('raw bytes')],
      [{ protocol: 'eof' }, b('line one\r\n')],
      [
        lengthConfig({ type: 'N', lengthOffset: 0, bodyOffset: 4 }),
        lengthPacket({ type: 'N', lengthOffset: 0, bodyOffset: 4 }, 20),
      ],
      [{ protocol: 'http' }, POST5],
    ];
    for (const [cfg, frame] of cases) {
      const conn = openWith(cfg);
      expect(c.feed(conn, empty)).toBe(0);
      expect(c.error).toBe(OK);
      const raw = cfg.protocol === 'raw';
      // a frame in three parts with empty chunks between, then the tail of one more after an empty chunk
      const parts = [
        frame.subarray(0, 3),
        empty,
        frame.subarray(3, 7),
        empty,
        Buffer.concat([frame.subarray(7), frame.subarray(0, 2)]),
        empty,
        frame.subarray(2),
      ];
      const got: Buffer[] = [];
      for (const p of parts) {
        const chunk = owned(p);
        const n = c.feed(conn, chunk);
        expect(c.error).toBe(OK);
        for (let i = 0; i < n; i++) got.push(c.message(chunk, i));
      }
      if (raw) expect(Buffer.concat(got).equals(Buffer.concat([frame, frame]))).toBe(true);
      else expect(got.map((g) => g.toString('latin1'))).toEqual([frame.toString('latin1'), frame.toString('latin1')]);
      expect(c.buffered(conn)).toBe(0);
      c.close(conn);
    }
  });
});

// ============================================================== http flags

describe('http FLAG_CLOSE', () => {
  const table: [string, number][] = [
    ['GET / HTTP/1.1\r\n\r\n', 0],
    ['GET / HTTP/1.0\r\n\r\n', FLAG_CLOSE],
    ['GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 0],
    ['GET / HTTP/1.0\r\nconnection: KEEP-ALIVE\r\n\r\n', 0],
    ['GET / HTTP/1.1\r\nConnection: close\r\n\r\n', FLAG_CLOSE],
    ['GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n', FLAG_CLOSE],
    ['GET / HTTP/1.1\r\nConnection: closed\r\n\r\n', 0],
    ['GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n', 0],
    ['GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n', 0],
    ['GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n', FLAG_CLOSE],
    // "close" wins whatever the order of the options or headers
    ['GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n', FLAG_CLOSE],
    ['GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n', FLAG_CLOSE],
    ['GET / HTTP/1.1\r\nConnection: close, keep-alive\r\n\r\n', FLAG_CLOSE],
    ['POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nok', FLAG_CLOSE],
    ['POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n', FLAG_CLOSE],
  ];
  for (const [req, flags] of table) {
    it(`${JSON.stringify(req.split('\r\n\r\n')[0])} -> ${flags}`, () => {
      // pipelined between two keep-alive requests, and split byte by byte;
      // after a request with FLAG_CLOSE, the next one is ignored
      const frames = [GET, b(req), GET].map((x, i) => ({ bytes: x, flags: i === 1 ? flags : 0, marks: [] }));
      const stream = owned(Buffer.concat(frames.map((f) => f.bytes)));
      for (const chunks of [[stream], oneByteChunks(stream)]) {
        const conn = openWith({ protocol: 'http' });
        expectFrames(feedAll(c, conn, chunks), untilClose(frames), `${chunks.length} chunks`);
        expect(c.buffered(conn)).toBe(0);
        c.close(conn);
      }
    });
  }
});

// ============================================================== many frames per chunk

describe('many frames in one chunk', () => {
  // The smallest frame of each protocol, packed into one chunk after the tail
  // of a frame begun in the previous chunk: the output area and the binding's
  // frame table must grow to hold them all. Counts straddle powers of two.
  const cases: [string, Config, Buffer, Buffer][] = [
    ['eof, 1-byte delimiter', { protocol: 'eof', package_eof: '\n' }, b('\n'), b('span\n')],
    ['eof, 8-byte delimiter', { protocol: 'eof', package_eof: '12345678' }, b('12345678'), b('span12345678')],
    [
      "length 'C', body_offset 0",
      lengthConfig({ type: 'C', lengthOffset: 0, bodyOffset: 0 }),
      Buffer.from([1]),
      Buffer.from([5, 1, 2, 3, 4]),
    ],
    [
      "length 'N'",
      lengthConfig({ type: 'N', lengthOffset: 0, bodyOffset: 4 }),
      Buffer.from([0, 0, 0, 0]),
      Buffer.from([0, 0, 0, 2, 9, 9]),
    ],
    ['http, 16-byte requests', { protocol: 'http' }, b('A / HTTP/1.1\r\n\r\n'), GET],
  ];
  for (const [name, cfg, tiny, span] of cases) {
    it(name, () => {
      for (const count of [1023, 1024, 2047, 2048, 4096, 70000]) {
        const conn = openWith(cfg);
        const first = owned(span.subarray(0, span.length - 1));
        expect(c.feed(conn, first)).toBe(0);
        const chunk = owned(Buffer.concat([span.subarray(span.length - 1), ...Array.from({ length: count }, () => tiny)]));
        const n = c.feed(conn, chunk);
        expect(c.error).toBe(OK);
        expect(n).toBe(count + 1);
        expect(c.message(chunk, 0).equals(span)).toBe(true);
        for (let i = 1; i <= count; i++) {
          const m = c.message(chunk, i);
          if (m.byteOffset - chunk.byteOffset !== 1 + (i - 1) * tiny.length || !m.equals(tiny)) {
            throw new Error(`${name}, ${count} frames: frame ${i} wrong`);
          }
        }
        expect(c.buffered(conn)).toBe(0);
        // the connection, and a fresh one, still frame normally afterwards
        const again = owned(Buffer.concat([span, tiny]));
        expect(c.feed(conn, again)).toBe(2);
        c.close(conn);
      }
    });
  }
});

// ============================================================== large frame

describe('large frame', () => {
  it('a 64 MiB length frame in 64 KiB chunks comes out intact, with linear memory under 2x the frame', () => {
    const size = 64 * MiB;
    const cfg: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 4 };
    // a core of its own, so the memory measured is this frame's alone
    const own = new Core();
    const ownSettings = new Settings(own);
    for (const [k, v] of Object.entries(lengthConfig(cfg, { package_max_length: 64 * MiB + 16 }))) ownSettings.set(k, v);
    const conn = own.open(ownSettings.store);
    const frame = Buffer.allocUnsafe(size);
    // a cheap non-repeating fill: xorshift words
    let x = 0x9e3779b9;
    for (let i = 0; i < size; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      frame.writeInt32LE(x | 0, i);
    }
    frame.writeUInt32BE(size - 4, 0);
    const tail = lengthPacket(cfg, 10);
    const stream = Buffer.concat([frame, tail]);
    const hash = createHash('sha256').update(frame).digest('hex');
    const before = own.memory.buffer.byteLength;
    const step = 64 * 1024;
    const t0 = performance.now();
    const got: Buffer[] = [];
    let peakBuffered = 0;
    for (let at = 0; at < stream.length; at += step) {
      const chunk = stream.subarray(at, at + step);
      const n = own.feed(conn, chunk);
      expect(own.error).toBe(OK);
      for (let i = 0; i < n; i++) got.push(own.message(chunk, i));
      peakBuffered = Math.max(peakBuffered, own.buffered(conn));
    }
    const ms = performance.now() - t0;
    const after = own.memory.buffer.byteLength;
    console.log(
      `64 MiB frame: ${ms.toFixed(0)} ms, linear memory ${(before / MiB).toFixed(1)} -> ${(after / MiB).toFixed(1)} MiB, peak buffered ${(peakBuffered / MiB).toFixed(1)} MiB`,
    );
    expect(got.length).toBe(2);
    expect(got[0].length).toBe(size);
    expect(got[0].readUInt32BE(0)).toBe(size - 4);
    expect(got[0].subarray(size - 16).equals(frame.subarray(size - 16))).toBe(true);
    expect(createHash('sha256').update(got[0]).digest('hex')).toBe(hash);
    expect(got[1].equals(tail)).toBe(true);
    expect(own.buffered(conn)).toBe(0);
    expect(after).toBeLessThanOrEqual(2 * size);
    expect(after - before).toBeLessThanOrEqual(size + 8 * MiB); // the frame's buffer once, no doubling
    expect(ms).toBeLessThan(5000);
    own.close(conn);
  }, 30_000);

  it('large eof and http frames grow their buffer without quadratic re-scans or re-copies', () => {
    const size = 8 * MiB;
    const step = 64 * 1024;
    const eof = Buffer.alloc(size, 0x61);
    eof.write('\r\n\r\n', size - 4, 'latin1');
    const head = 'POST / HTTP/1.1\r\nContent-Length: ' + (size - 0) + '\r\n\r\n';
    const httpFrame = Buffer.concat([Buffer.from(head), Buffer.alloc(size, 0x0d)]);
    for (const [cfg, frame] of [
      [{ protocol: 'eof', package_eof: '\r\n\r\n', package_max_length: 16 * MiB }, eof],
      [{ protocol: 'http', package_max_length: 16 * MiB }, httpFrame],
    ] as [Config, Buffer][]) {
      const conn = openWith(cfg);
      const t0 = performance.now();
      const got: Buffer[] = [];
      for (let at = 0; at < frame.length; at += step) {
        const chunk = frame.subarray(at, at + step);
        const n = c.feed(conn, chunk);
        expect(c.error).toBe(OK);
        for (let i = 0; i < n; i++) got.push(c.message(chunk, i));
      }
      const ms = performance.now() - t0;
      expect(got.length).toBe(1);
      expect(got[0].equals(frame)).toBe(true);
      expect(ms).toBeLessThan(2000);
      c.close(conn);
    }
  }, 30_000);
});

// ============================================================== zero copy

describe('zero-copy and copies', () => {
  it('a frame wholly inside the chunk is a view of the chunk, for every protocol', () => {
    const cases: [Config, Buffer[]][] = [
      [{ protocol: 'raw' }, [b('anything at all')]],
      [{ protocol: 'eof' }, [b('a\r\n'), b('bb\r\n'), b('\r\n')]],
      [
        lengthConfig({ type: 'n', lengthOffset: 0, bodyOffset: 2 }),
        [
          lengthPacket({ type: 'n', lengthOffset: 0, bodyOffset: 2 }, 5),
          lengthPacket({ type: 'n', lengthOffset: 0, bodyOffset: 2 }, 2),
        ],
      ],
      [{ protocol: 'http' }, [GET, POST5]],
    ];
    for (const [cfg, frames] of cases) {
      const conn = openWith(cfg);
      const chunk = owned(Buffer.concat(frames));
      const n = c.feed(conn, chunk);
      expect(n).toBe(frames.length);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const m = c.message(chunk, i);
        expect(m.buffer).toBe(chunk.buffer);
        expect(m.byteOffset).toBe(chunk.byteOffset + at);
        expect(m.equals(frames[i])).toBe(true);
        // shared memory: writing the chunk shows through the message
        const old = chunk[at];
        chunk[at] = old ^ 0xff;
        expect(m[0]).toBe(old ^ 0xff);
        chunk[at] = old;
        at += frames[i].length;
      }
      c.close(conn);
    }
  });

  it('a frame spanning chunks is a copy that survives later feeds, other connections and memory.grow', () => {
    const cfg: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 4 };
    const conn = openWith(lengthConfig(cfg, { package_max_length: 64 * MiB }));
    const other = c.open(settings.store);
    const frame = lengthPacket(cfg, 3000, (i) => (i * 7 + 3) & 0xff);
    const next = lengthPacket(cfg, 50, (i) => (i * 11 + 1) & 0xff);
    // first part, then the rest of the frame plus a whole next frame and the start of a third
    const c1 = owned(frame.subarray(0, 1234));
    const c2 = owned(Buffer.concat([frame.subarray(1234), next, frame.subarray(0, 700)]));
    expect(c.feed(conn, c1)).toBe(0);
    expect(c.buffered(conn)).toBe(1234);
    expect(c.feed(conn, c2)).toBe(2);
    const span = c.message(c2, 0);
    const inside = c.message(c2, 1);
    expect(span.equals(frame)).toBe(true);
    expect(span.buffer).not.toBe(c2.buffer);
    expect(span.buffer).not.toBe(c1.buffer);
    expect(span.buffer).not.toBe(c.memory.buffer);
    expect(inside.buffer).toBe(c2.buffer); // the frame after the span is still zero-copy
    expect(inside.equals(next)).toBe(true);
    expect(c.buffered(conn)).toBe(700);
    const snapshot = Buffer.from(span);

    // more spans on the same connection and on another one reuse the core's buffers
    const c3 = owned(frame.subarray(700));
    expect(c.feed(conn, c3)).toBe(1);
    expect(c.message(c3, 0).equals(frame)).toBe(true);
    for (let k = 0; k < 5; k++) {
      const a = owned(frame.subarray(0, 100 + k));
      const z = owned(frame.subarray(100 + k));
      expect(c.feed(other, a)).toBe(0);
      expect(c.feed(other, z)).toBe(1);
    }
    expect(span.equals(snapshot)).toBe(true);

    // force linear memory to grow with a frame bigger than anything so far, buffered on another connection
    const big = openWith(lengthConfig(cfg, { package_max_length: 256 * MiB }));
    const buffer0 = c.memory.buffer;
    const bytes0 = buffer0.byteLength;
    let size = 4 * MiB;
    while (c.memory.buffer === buffer0 && size <= 128 * MiB) {
      const huge = Buffer.alloc(size, 0x5a);
      huge.writeUInt32BE(size - 4, 0);
      const half = size >> 1;
      expect(c.feed(big, huge.subarray(0, half))).toBe(0);
      expect(c.feed(big, huge.subarray(half))).toBe(1);
      expect(c.error).toBe(OK);
      size *= 2;
    }
    expect(c.memory.buffer).not.toBe(buffer0);
    expect(c.memory.buffer.byteLength).toBeGreaterThan(bytes0);
    expect(span.equals(snapshot)).toBe(true);
    expect(inside.equals(next)).toBe(true);

    // the connections still frame correctly after the growth
    const again = owned(Buffer.concat([next, frame.subarray(0, 10)]));
    expect(c.feed(conn, again)).toBe(1);
    const tailChunk = owned(frame.subarray(10));
    expect(c.feed(conn, tailChunk)).toBe(1);
    expect(c.message(tailChunk, 0).equals(frame)).toBe(true);
    expect(span.equals(snapshot)).toBe(true);
    c.close(big);
    c.close(other);
    c.close(conn);
  }, 30_000);

  it('a spanning copy is not overwritten by the next spanning frame (eof, http)', () => {
    for (const [cfg, frames] of [
      [{ protocol: 'eof' }, [b('first frame\r\n'), b('second one\r\n'), b('third\r\n')]],
      [{ protocol: 'http' }, [POST5, GET, b('PUT /x HTTP/1.0\r\nContent-Length: 2\r\n\r\nok')]],
    ] as [Config, Buffer[]][]) {
      const conn = openWith(cfg);
      const kept: Buffer[] = [];
      for (const f of frames) {
        const x = owned(f.subarray(0, 5));
        const y = owned(f.subarray(5));
        expect(c.feed(conn, x)).toBe(0);
        expect(c.feed(conn, y)).toBe(1);
        kept.push(c.message(y, 0));
      }
      for (const [i, k] of kept.entries()) expect(k.equals(frames[i])).toBe(true);
      c.close(conn);
    }
  });
});

describe('a head past 512 MiB', () => {
  it("grows the core buffer to the allocator's largest block instead of aborting the core", () => {
    // a core of its own: the buffer takes 1 GiB of it
    const own = new Core();
    const ownSettings = new Settings(own);
    ownSettings.set('protocol', 'http');
    ownSettings.set('package_max_length', 1024 * MiB);
    const conn = own.open(ownSettings.store);
    const fill = Buffer.alloc(MiB, 0x61);
    expect(own.feed(conn, owned('GET / HTTP/1.1\r\nX: '))).toBe(0);
    for (let i = 0; i < 520; i++) {
      expect(own.feed(conn, fill)).toBe(0); // a 512 MiB buffer would double to 1 GiB here
      expect(own.error).toBe(OK);
    }
    expect(own.holding(conn)).toBeGreaterThan(520 * MiB);
    own.close(conn);
    ownSettings.dispose();
  }, 60_000);
});

// ============================================================== many connections

describe('many connections', () => {
  it('5 rounds of 2000 connections opened, fed partial frames and closed reach a steady memory size', () => {
    // a core of its own, so earlier tests' growth does not hide this one's
    const c = new Core();
    const settings = new Settings(c);
    const rounds = 5;
    const perRound = 2000;
    const sizes: number[] = [];
    const N: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 4 };
    const lengthFrame = lengthPacket(N, 3000);
    const eofBytes = owned(Buffer.alloc(1500, 0x62));
    const httpBytes = owned('POST /upload HTTP/1.1\r\nContent-Length: 2000\r\n\r\n' + 'z'.repeat(700));
    for (let round = 0; round < rounds; round++) {
      const conns: [number, number][] = [];
      for (const [k, cfg] of [
        [0, { protocol: 'eof' }],
        [1, lengthConfig(N)],
        [2, { protocol: 'http' }],
        [3, { protocol: 'raw' }],
      ] as [number, Config][]) {
        settings.reset();
        for (const [key, v] of Object.entries(cfg)) settings.set(key, v);
        for (let i = 0; i < perRound / 4; i++) conns.push([c.open(settings.store), k]);
      }
      conns.forEach(([conn, k], i) => {
        let n: number;
        let fed: number;
        if (k === 0) {
          fed = 1 + ((i * 37) % eofBytes.length);
          n = c.feed(conn, eofBytes.subarray(0, fed));
        } else if (k === 1) {
          fed = 1 + ((i * 53) % (lengthFrame.length - 1));
          n = c.feed(conn, lengthFrame.subarray(0, fed));
        } else if (k === 2) {
          fed = 1 + ((i * 41) % httpBytes.length);
          n = c.feed(conn, httpBytes.subarray(0, fed));
        } else {
          fed = 0;
          n = c.feed(conn, eofBytes.subarray(0, 10)) === 1 ? 0 : -1; // raw: the chunk is the message
        }
        expect(c.error).toBe(OK);
        expect(n).toBe(0);
        expect(c.buffered(conn)).toBe(fed);
      });
      for (const [conn] of conns) c.close(conn);
      sizes.push(c.memory.buffer.byteLength);
    }
    console.log(`linear memory after each round: ${sizes.map((s) => (s / MiB).toFixed(2)).join(', ')} MiB`);
    expect(sizes[1]).toBe(sizes[4]);
    expect(sizes[2]).toBe(sizes[4]);
  }, 30_000);

  it('thousands of open connections keep their partial frames apart', () => {
    const conn: number[] = [];
    const frame = (i: number) => Buffer.from(`conn ${i} says ${'x'.repeat(i % 50)}\r\n`);
    settings.reset();
    settings.set('protocol', 'eof');
    for (let i = 0; i < 3000; i++) conn.push(c.open(settings.store));
    // three passes, each feeding a third of every connection's frame
    const got: Buffer[] = [];
    for (let pass = 0; pass < 3; pass++) {
      for (let i = 0; i < conn.length; i++) {
        const f = frame(i);
        const third = Math.ceil(f.length / 3);
        const part = owned(f.subarray(pass * third, (pass + 1) * third));
        if (part.length === 0) continue;
        const n = c.feed(conn[i], part);
        if (n) got[i] = c.message(part, 0);
      }
    }
    for (let i = 0; i < conn.length; i++) {
      expect(got[i]?.toString()).toBe(frame(i).toString());
      c.close(conn[i]);
    }
  });
});

// ============================================================== aborts

describe('a core abort', () => {
  it('is a CoreAbort that says the AssemblyScript message, file, line and column', () => {
    // a core of its own: an abort leaves an instance in no state to go on
    const own = new Core();
    let err: unknown;
    try {
      own.exports.settings_scratch(2 ** 30); // the allocator refuses a block this large
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CoreAbort);
    const abort = err as CoreAbort;
    expect(abort.code).toBe('ERR_CORE_ABORT');
    expect(abort.reason).toBe('Allocation too large');
    expect(abort.file).toBe('~lib/rt/tlsf.ts');
    expect(abort.line).toBeGreaterThan(0);
    expect(abort.column).toBeGreaterThan(0);
    expect(abort.message).toBe(`tcp-prefork core aborted: Allocation too large at ~lib/rt/tlsf.ts:${abort.line}:${abort.column}`);
  });
});
