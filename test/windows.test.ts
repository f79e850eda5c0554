// The core's windows: a chunk longer than the connection's copy threshold is
// not copied whole; the core asks for the bytes it must read (headers, heads,
// chunked bodies) and the host copies only those. These tests cap the
// threshold (copyLimit) so every chunk goes through windows, and before each
// feed they fill the input area with poison, so a read outside what the core
// asked for gives wrong frames. Bytes just past the chunk's end are the ones
// that come next in the stream, as in core.test.ts.
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import { core, Core } from '../src/core.js';
import { Settings } from '../src/settings.js';
import * as S from '../assembly/status.js';
import {
  type GenFrame,
  type LengthCfg,
  type FeedResult,
  owned,
  joinFrames,
  splitAt,
  oneByteChunks,
  feedOne,
  expectFrames,
  eofFrameArb,
  lengthFrameArb,
  lengthCfgs,
  lengthPacket,
  lengthHeader,
  httpRequestArb,
  buildRequest,
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
const ALL = Infinity;

type Config = Record<string, string | number | boolean | Buffer>;

afterEach(() => {
  c.copyLimit(ALL);
  settings.reset();
});

function openWith(cfg: Config, limit: number): number {
  settings.reset();
  for (const [k, v] of Object.entries(cfg)) settings.set(k, v);
  c.copyLimit(limit);
  const conn = c.open(settings.store);
  c.copyLimit(ALL);
  return conn;
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

const POISONS = [
  Buffer.from('\r\n\r\n'),
  Buffer.from([0xff]),
  Buffer.from([0]),
  Buffer.from('0\r\n\r\nGET / HTTP/1.1\r\n\r\n'),
  Buffer.from([0, 0, 0, 7, 0x0d, 0x0a]),
];
let poisonAt = 0;

/** Fills the input area under the chunk with poison, and plants the next stream bytes past its end. */
function poison(stream: Buffer, chunk: Buffer): void {
  const inPtr = c.ctrl(S.CTRL_IN_PTR);
  const cap = c.ctrl(S.CTRL_IN_CAP);
  if (chunk.length + 64 > cap) return; // the feed will move the input area
  c.views();
  const p = POISONS[poisonAt++ % POISONS.length];
  for (let k = 0; k < chunk.length; k += p.length) c.u8.set(p.subarray(0, Math.min(p.length, chunk.length - k)), inPtr + k);
  const start = chunk.byteOffset - stream.byteOffset;
  const next = stream.subarray(start + chunk.length, start + chunk.length + 24);
  c.u8.set(next, inPtr + chunk.length);
}

function feedChunks(conn: number, stream: Buffer, chunks: Buffer[], after?: () => void): FeedResult {
  const r: FeedResult = { frames: [], flags: [], zeroCopy: [], error: 0, errorChunk: -1 };
  for (let k = 0; k < chunks.length && !r.error; k++) {
    poison(stream, chunks[k]);
    feedOne(c, conn, chunks[k], r, k);
    after?.();
  }
  return r;
}

const limitArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 3000 }));

function checkSplits(
  cfg: Config,
  frames: GenFrame[],
  cuts: { random: number[]; marked: number[]; dense: boolean },
  limit: number,
): void {
  const { stream, marks } = joinFrames(frames);
  const want = cfg.protocol === 'http' ? untilClose(frames) : frames;
  for (const [label, chunks] of [
    ['unsplit', [stream]],
    ['split', splitAt(stream, pickCuts(stream.length, marks, cuts))],
    ['1-byte chunks', oneByteChunks(stream)],
  ] as [string, Buffer[]][]) {
    const conn = openWith(cfg, limit);
    try {
      const r = feedChunks(conn, stream, chunks);
      expectFrames(r, want, `${label} (copy limit ${limit}): ${chunks.map((x) => x.length).join('+')}`, chunks);
      expect(c.buffered(conn)).toBe(0);
    } finally {
      c.close(conn);
    }
  }
}

/** Big requests: long heads (past the first window), Content-Length bodies up to 5000 bytes, long chunked bodies. */
const bigHttpArb: fc.Arbitrary<GenFrame> = fc
  .record({
    kind: fc.constantFrom('length', 'chunked', 'none'),
    headPad: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2500 })),
    size: fc.integer({ min: 0, max: 5000 }),
    parts: fc.integer({ min: 1, max: 3 }),
    fill: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ kind, headPad, size, parts, fill }) => {
    const data = Buffer.alloc(size, fill === 0x0d ? 0x0a : fill);
    const headers: [string, string][] = headPad ? [['X-Pad', 'p'.repeat(headPad)]] : [];
    const step = Math.ceil(Math.max(size, 1) / parts);
    const chunks = [];
    for (let at = 0; at < size; at += step) {
      const d = data.subarray(at, at + step);
      chunks.push({ data: d, size: d.length.toString(16), ext: '' });
    }
    const body =
      kind === 'length'
        ? { kind: 'length' as const, data, dup: false, zeros: '' }
        : kind === 'chunked'
          ? { kind: 'chunked' as const, chunks, lastExt: '', trailers: [] as [string, string][], te: 'chunked' }
          : { kind: 'none' as const };
    return buildRequest({ method: 'POST', target: '/big', minor: 1, headers, connection: [], body });
  });

describe('windows: any split, any copy limit, poison outside the windows', () => {
  const delimiters = ['\r\n', '\n', '\r\n\r\n', 'aab', '12345678'];
  for (const d of delimiters) {
    it(`eof ${JSON.stringify(d)}`, () => {
      const delim = Buffer.from(d);
      fc.assert(
        fc.property(fc.array(eofFrameArb(delim, 300), { maxLength: 12 }), cutsArb, limitArb, (frames, cuts, limit) => {
          checkSplits({ protocol: 'eof', package_eof: d }, frames, cuts, limit);
        }),
        { numRuns: 100 },
      );
    });
  }

  for (const type of Object.keys(PACK)) {
    it(`length '${type}', small and big frames`, () => {
      const cfgArb = fc.constantFrom(...lengthCfgs(type));
      const big = PACK[type].size === 1 ? 100 : 6000;
      const arb = cfgArb.chain((cfg) =>
        fc.tuple(
          fc.constant(cfg),
          fc.array(fc.oneof(lengthFrameArb(cfg), lengthFrameArb(cfg, big)), { maxLength: 10 }),
          cutsArb,
          limitArb,
        ),
      );
      fc.assert(
        fc.property(arb, ([cfg, frames, cuts, limit]) => {
          checkSplits(lengthConfig(cfg), frames, cuts, limit);
        }),
        { numRuns: 120 },
      );
    });
  }

  it('http: pipelined small and big requests (long heads, big Content-Length and chunked bodies)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(httpRequestArb, bigHttpArb), { maxLength: 6 }), cutsArb, limitArb, (frames, cuts, limit) => {
        checkSplits({ protocol: 'http' }, frames, cuts, limit);
      }),
      { numRuns: 400 },
    );
  });

  it('PROXY header then eof and http frames', () => {
    const head = Buffer.from('PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n');
    const body = Buffer.concat([Buffer.from('hello\r\n'), Buffer.alloc(5000, 0x61), Buffer.from('\r\n')]);
    const req = buildRequest({
      method: 'POST',
      target: '/',
      minor: 1,
      headers: [],
      connection: [],
      body: { kind: 'length', data: Buffer.alloc(4000, 0x62), dup: false, zeros: '' },
    }).bytes;
    for (const [cfg, frames] of [
      [{ protocol: 'eof' }, [Buffer.from('hello\r\n'), body.subarray(7)]],
      [{ protocol: 'http' }, [req, req]],
      [{ protocol: 'raw' }, null],
    ] as [Config, Buffer[] | null][]) {
      const payload = frames ? Buffer.concat(frames) : body;
      const stream = owned(Buffer.concat([head, payload]));
      for (const cuts of [[], [7], [20, head.length + 3], Array.from({ length: 40 }, (_, i) => i * 300 + 1)]) {
        for (const limit of [0, 10, ALL]) {
          const conn = openWith({ ...cfg, proxy_protocol: true }, limit);
          const chunks = splitAt(stream, cuts);
          const r = feedChunks(conn, stream, chunks);
          expect(r.error).toBe(OK);
          if (frames) {
            expectFrames(
              r,
              frames.map((f) => ({ bytes: f, flags: 0, marks: [] })),
              `${cfg.protocol} cuts ${cuts.length} limit ${limit}`,
            );
          } else {
            expect(Buffer.concat(r.frames).equals(payload)).toBe(true);
          }
          expect(c.buffered(conn)).toBe(0);
          c.close(conn);
        }
      }
    }
  });
});

describe('windows: limits and errors', () => {
  it('package_max_length under windows: the same frames, then ERR_FRAME_TOO_LARGE, never more than max held', () => {
    const cases: [Config, fc.Arbitrary<GenFrame>][] = [
      [{ protocol: 'eof' }, eofFrameArb(Buffer.from('\r\n'), 300)],
      [
        lengthConfig({ type: 'N', lengthOffset: 0, bodyOffset: 4 }),
        lengthFrameArb({ type: 'N', lengthOffset: 0, bodyOffset: 4 }, 3000),
      ],
      [
        lengthConfig({ type: 'n', lengthOffset: 3, bodyOffset: 10 }),
        lengthFrameArb({ type: 'n', lengthOffset: 3, bodyOffset: 10 }, 3000),
      ],
      [{ protocol: 'http' }, fc.oneof(httpRequestArb, bigHttpArb)],
    ];
    for (const [cfg, frameArb] of cases) {
      fc.assert(
        fc.property(
          fc.array(frameArb, { minLength: 1, maxLength: 6 }),
          fc.nat(),
          cutsArb,
          limitArb,
          (frames, pick, cuts, limit) => {
            const lens = frames.map((f) => f.bytes.length);
            const lo = Math.min(...lens);
            const hi = Math.max(...lens);
            const max = [hi, hi - 1, lo, lo + (pick % (hi - lo + 1))].filter((m) => m >= lo)[pick % 3] ?? hi;
            const kept = cfg.protocol === 'http' ? untilClose(frames) : frames;
            const firstBig = kept.findIndex((f) => f.bytes.length > max);
            const want = firstBig < 0 ? kept : kept.slice(0, firstBig);
            const { stream, marks } = joinFrames(frames);
            for (const chunks of [[stream], splitAt(stream, pickCuts(stream.length, marks, cuts))]) {
              const conn = openWith({ ...cfg, package_max_length: max }, limit);
              const r = feedChunks(conn, stream, chunks, () => {
                if (c.buffered(conn) > max) throw new Error(`buffered ${c.buffered(conn)} > max ${max}`);
              });
              expect(r.error).toBe(firstBig < 0 ? OK : ERR_FRAME_TOO_LARGE);
              expectFrames({ ...r, error: 0 }, want, `max ${max}, ${chunks.length} chunks, limit ${limit}`);
              c.close(conn);
            }
          },
        ),
        { numRuns: 150 },
      );
    }
  });

  it('bad input after big frames is refused in the chunk that holds it, after the frames before it', () => {
    const N: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 4 };
    const big = (n: number) =>
      buildRequest({
        method: 'POST',
        target: '/',
        minor: 1,
        headers: [],
        connection: [],
        body: { kind: 'length', data: Buffer.alloc(n, 0x71), dup: false, zeros: '' },
      }).bytes;
    const cases: [string, Config, Buffer[], Buffer, number][] = [
      [
        'length: negative',
        lengthConfig({ type: 'l', lengthOffset: 0, bodyOffset: 4 }),
        [lengthPacket({ type: 'l', lengthOffset: 0, bodyOffset: 4 }, 5000)],
        lengthHeader({ type: 'l', lengthOffset: 0, bodyOffset: 4 }, -1, 10),
        ERR_BAD_LENGTH,
      ],
      [
        'length: too large',
        lengthConfig(N, { package_max_length: 9000 }),
        [lengthPacket(N, 9000), lengthPacket(N, 3000)],
        lengthHeader(N, 9000, 100),
        ERR_FRAME_TOO_LARGE,
      ],
      [
        'http: garbage after big requests',
        { protocol: 'http' },
        [big(6000), big(3000)],
        Buffer.from('\x01GET / HTTP/1.1\r\n\r\n'),
        ERR_BAD_HTTP,
      ],
      [
        'http: bad head after big requests',
        { protocol: 'http' },
        [big(6000)],
        Buffer.from('GET / HTTP/1.1\r\nBad Name: x\r\n\r\n'),
        ERR_BAD_HTTP,
      ],
      [
        'http: head past max',
        { protocol: 'http', package_max_length: 7000 },
        [big(6000)],
        Buffer.from('GET / HTTP/1.1\r\nX: ' + 'v'.repeat(7000)),
        ERR_FRAME_TOO_LARGE,
      ],
      [
        'http: bad chunk after 5000 bytes of chunked data',
        { protocol: 'http' },
        [big(100)],
        Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n' + 'd'.repeat(5000) + '\r\nzz\r\n'),
        ERR_BAD_HTTP,
      ],
      [
        'eof: no delimiter within max',
        { protocol: 'eof', package_max_length: 6000 },
        [Buffer.from('a'.repeat(5000) + '\r\n')],
        Buffer.from('b'.repeat(6001)),
        ERR_FRAME_TOO_LARGE,
      ],
    ];
    for (const [name, cfg, good, bad, error] of cases) {
      const stream = owned(Buffer.concat([...good, bad]));
      for (const cuts of [[], [good[0].length - 3], Array.from({ length: 30 }, (_, i) => 1 + i * 977)]) {
        for (const limit of [0, 100, ALL]) {
          const conn = openWith(cfg, limit);
          const r = feedChunks(conn, stream, splitAt(stream, cuts));
          expect(r.error, `${name}, ${cuts.length} cuts, limit ${limit}`).toBe(error);
          expectFrames(
            { ...r, error: 0 },
            good.map((g) => ({ bytes: g, flags: 0, marks: [] })),
            `${name}, ${cuts.length} cuts, limit ${limit}`,
          );
          expect(c.feed(conn, owned(good[0]))).toBe(0);
          expect(c.error).toBe(error);
          expect(c.buffered(conn)).toBe(0);
          c.close(conn);
        }
      }
    }
  });
});

describe('windows: big chunks with the default policy', () => {
  it('8K and 32K frames in 16K and 64K chunks, every protocol, a frame the whole chunk continues, and back to small frames', () => {
    const N: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 4 };
    const req = (n: number) =>
      buildRequest({
        method: 'POST',
        target: '/',
        minor: 1,
        headers: [],
        connection: [],
        body: { kind: 'length', data: Buffer.alloc(n, 0x0d), dup: false, zeros: '' },
      }).bytes;
    const eof = (n: number) => Buffer.concat([Buffer.alloc(n - 2, 0x65), Buffer.from('\r\n')]);
    for (const [cfg, make] of [
      [lengthConfig(N), (n: number) => lengthPacket(N, n)],
      [{ protocol: 'http' }, req],
      [{ protocol: 'eof' }, eof],
    ] as [Config, (n: number) => Buffer][]) {
      const sizes = [1000, 8192, 8192, 32768, 8192, 200000, 40, 60, 33, 8192, 20, 70000, 16];
      const frames = sizes.map((n) => make(n));
      const stream = owned(Buffer.concat(frames));
      for (const step of [16384, 65536, 3000]) {
        const conn = openWith(cfg, ALL);
        const chunks = [];
        for (let at = 0; at < stream.length; at += step) chunks.push(stream.subarray(at, at + step));
        const r = feedChunks(conn, stream, chunks);
        expectFrames(
          r,
          frames.map((f) => ({ bytes: f, flags: 0, marks: [] })),
          `${cfg.protocol} step ${step}`,
          chunks,
        );
        expect(c.buffered(conn)).toBe(0);
        c.close(conn);
      }
    }
  });

  it('frames of one size (predicted headers), with sizes that break the prediction, in chunks of any size', () => {
    const N: LengthCfg = { type: 'N', lengthOffset: 0, bodyOffset: 4 };
    const odd: LengthCfg = { type: 'v', lengthOffset: 3, bodyOffset: 9 };
    const req = (n: number) =>
      buildRequest({
        method: 'PUT',
        target: '/r',
        minor: 1,
        headers: [],
        connection: [],
        body: { kind: 'length', data: Buffer.alloc(n, 0x72), dup: false, zeros: '' },
      }).bytes;
    const makers: [Config, (n: number) => Buffer][] = [
      [lengthConfig(N), (n) => lengthPacket(N, n)],
      [lengthConfig(odd), (n) => lengthPacket(odd, n)],
      [{ protocol: 'http' }, (n) => req(n)],
    ];
    const arb = fc.tuple(
      fc.constantFrom(...makers.keys()),
      fc.integer({ min: 600, max: 9000 }),
      fc.array(
        fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -500, max: 3000 }) }),
        { minLength: 3, maxLength: 40 },
      ),
      fc.array(fc.integer({ min: 1, max: 70000 }), { minLength: 1, maxLength: 8 }),
      fc.constantFrom(ALL, 0, 3000),
    );
    fc.assert(
      fc.property(arb, ([m, size, deltas, steps, limit]) => {
        const [cfg, make] = makers[m];
        const frames = deltas.map((d) => make(size + d));
        const stream = owned(Buffer.concat(frames));
        const chunks: Buffer[] = [];
        for (let at = 0, k = 0; at < stream.length; k++) {
          const step = steps[k % steps.length];
          chunks.push(stream.subarray(at, at + step));
          at += step;
        }
        const conn = openWith(cfg, limit);
        const r = feedChunks(conn, stream, chunks);
        expectFrames(
          r,
          frames.map((f) => ({ bytes: f, flags: 0, marks: [] })),
          `${cfg.protocol} size ${size}, steps ${steps.join(',')}, limit ${limit}`,
          chunks,
        );
        expect(c.buffered(conn)).toBe(0);
        c.close(conn);
      }),
      { numRuns: 300 },
    );
  });

  it('a 64 MiB length frame in 64 KiB chunks leaves linear memory as it was', () => {
    const own = new Core();
    const ownSettings = new Settings(own);
    ownSettings.set('protocol', 'length');
    ownSettings.set('package_max_length', 128 * 1024 * 1024);
    const conn = own.open(ownSettings.store);
    const size = 64 * 1024 * 1024;
    const frame = Buffer.alloc(size, 0x33);
    frame.writeUInt32BE(size - 4, 0);
    // warm up: the input area and output area at their 64 KiB sizes
    const warm = lengthPacket({ type: 'N', lengthOffset: 0, bodyOffset: 4 }, 65536);
    expect(own.feed(conn, warm)).toBe(1);
    const before = own.memory.buffer.byteLength;
    let got: Buffer | null = null;
    for (let at = 0; at < size; at += 65536) {
      const chunk = frame.subarray(at, at + 65536);
      if (own.feed(conn, chunk) === 1) got = own.message(chunk, 0);
      expect(own.error).toBe(OK);
    }
    expect(got?.equals(frame)).toBe(true);
    expect(own.memory.buffer.byteLength).toBe(before);
    own.close(conn);
  }, 30_000);
});
