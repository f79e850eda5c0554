// Framing throughput: the WASM core (through its host binding) against a
// straightforward pure-JS framer, on the same in-memory streams.
//
//   node bench/core.mjs [--json] [--rounds=N] [--filter=substring] [--no-check] [--js-fastbuf]
//
// Both sides take the full path a host uses: chunk in -> one Buffer per frame
// out (a subarray of the chunk, or a fresh Buffer for a frame that spanned
// chunks), which the consumer keeps. "boundaries" lines measure only finding
// the frames: WASM `feed` and reading the (offset, length) triples; JS the
// indexOf/readUInt loop without making subarrays. MB/s counts 1e6 bytes of
// stream per second. Each case runs in its own process. --js-fastbuf makes
// the JS framer build its frame views as Node's FastBuffer directly instead
// of with subarray (what a tuned host would do on either side).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { core } from '../build/src/core.js';
import { Settings } from '../build/src/settings.js';
import { JsFramer } from './js-framer.mjs';

const argv = process.argv.slice(2);
const JSON_OUT = argv.includes('--json');
const CHECK = !argv.includes('--no-check');
const ROUNDS = Number((argv.find((a) => a.startsWith('--rounds=')) ?? '--rounds=9').slice(9));
const JS_FASTBUF = argv.includes('--js-fastbuf');
const FILTER = (argv.find((a) => a.startsWith('--filter=')) ?? '--filter=').slice(9);
const CHILD = Number((argv.find((a) => a.startsWith('--child=')) ?? '--child=-1').slice(8));
const CALLS = 1_000_000; // calls per sample of the call-cost case
const SAMPLE_MS = 30; // one timed sample: this many ms of repeated passes
const log = (...a) => (JSON_OUT ? console.error : console.log)(...a);

const KiB = 1024;
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- streams

/** mulberry32: a small seeded PRNG, so every run frames the same bytes. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // inclusive
  return next;
}

const ALNUM = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,:;');

function fillText(b, start, end, r) {
  for (let i = start; i < end; i++) b[i] = ALNUM[(r() * ALNUM.length) | 0];
}

/** Concatenates frame Buffers; returns { stream, lengths }. */
function assemble(frames) {
  const lengths = Int32Array.from(frames, (f) => f.length);
  return { stream: Buffer.concat(frames), lengths };
}

/** eof frames: text (never containing the delimiter) then the delimiter, `size()` bytes each. */
function eofStream(bytes, size, r, eof = '\r\n') {
  const d = Buffer.from(eof, 'latin1');
  const frames = [];
  let total = 0;
  while (total < bytes) {
    const n = size();
    const f = Buffer.allocUnsafe(n);
    fillText(f, 0, n - d.length, r);
    d.copy(f, n - d.length);
    frames.push(f);
    total += n;
  }
  return assemble(frames);
}

const FIELD_SIZE = { c: 1, C: 1, s: 2, S: 2, n: 2, v: 2, l: 4, L: 4, N: 4, V: 4 };

function writeLength(b, p, type, v) {
  switch (type) {
    case 'c':
      b.writeInt8(v, p);
      break;
    case 'C':
      b.writeUInt8(v, p);
      break;
    case 's':
      b.writeInt16LE(v, p);
      break;
    case 'S':
    case 'v':
      b.writeUInt16LE(v, p);
      break;
    case 'n':
      b.writeUInt16BE(v, p);
      break;
    case 'l':
      b.writeInt32LE(v, p);
      break;
    case 'L':
    case 'V':
      b.writeUInt32LE(v, p);
      break;
    default:
      b.writeUInt32BE(v, p);
  }
}

/** length frames of `size()` total bytes (header included). */
function lengthStream(bytes, size, r, { type = 'N', loff = 0, boff = 4 } = {}) {
  const frames = [];
  let total = 0;
  while (total < bytes) {
    const n = Math.max(size(), boff, loff + FIELD_SIZE[type]);
    const f = Buffer.allocUnsafe(n);
    fillText(f, 0, Math.min(n, 256), r); // big frames: text head, the rest left as allocated
    writeLength(f, loff, type, n - boff);
    frames.push(f);
    total += n;
  }
  return assemble(frames);
}

const PATHS = ['/', '/index.html', '/api/v1/users', '/api/v1/items', '/static/app.js', '/search', '/img/logo.png'];

/** One request of 80-200 B of head: mostly GETs, a quarter POSTs with 1-64 B bodies. */
function httpRequest(r) {
  const post = r() < 0.25;
  let path = PATHS[r.int(0, PATHS.length - 1)];
  if (r() < 0.6) path += `?id=${r.int(1, 99999)}&q=${'x'.repeat(r.int(0, 40))}`;
  const lines = [`${post ? 'POST' : 'GET'} ${path} HTTP/1.1`, 'Host: example.com'];
  if (r() < 0.7) lines.push('User-Agent: bench/1.0');
  if (r() < 0.7) lines.push('Accept: */*');
  if (r() < 0.3) lines.push('Connection: keep-alive');
  let body = '';
  if (post) {
    body = 'b'.repeat(r.int(1, 64));
    lines.push(`${r() < 0.5 ? 'Content-Length' : 'content-length'}: ${body.length}`);
  }
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');
}

function httpStream(bytes, r) {
  const frames = [];
  let total = 0;
  while (total < bytes) {
    const f = httpRequest(r);
    frames.push(f);
    total += f.length;
  }
  return assemble(frames);
}

/** POST requests of exactly `size()` bytes each (head + Content-Length body). */
function httpBigStream(bytes, size, r) {
  const pre = 'POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/octet-stream\r\nContent-Length: ';
  const frames = [];
  let total = 0;
  while (total < bytes) {
    const n = size();
    let body = n - pre.length - 4 - String(n).length;
    body = n - pre.length - 4 - String(body).length;
    const head = Buffer.from(`${pre}${body}\r\n\r\n`, 'latin1');
    const f = Buffer.allocUnsafe(n);
    head.copy(f);
    fillText(f, head.length, n, r);
    frames.push(f);
    total += n;
  }
  return assemble(frames);
}

/**
 * The stream in chunks of `chunk` bytes, each with a backing store of its own,
 * as a socket read gives them: what the host keeps of an unfinished frame
 * depends on the memory a chunk pins (src/held.ts), and a view of one big
 * stream would pin it all.
 */
function split(stream, chunk) {
  const out = [];
  for (let i = 0; i < stream.length; i += chunk) out.push(Buffer.from(stream.subarray(i, Math.min(i + chunk, stream.length))));
  return out;
}

function randomSplit(stream, r, maxChunk) {
  const out = [];
  for (let i = 0; i < stream.length; ) {
    const n = r() < 0.1 ? 1 : r.int(1, maxChunk);
    out.push(stream.subarray(i, Math.min(i + n, stream.length)));
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------- the two sides

const c = core();
const settings = new Settings();

/** Applies a case's settings to the store the next `open` reads. */
function configure(cfg) {
  settings.reset();
  settings.set('protocol', cfg.protocol);
  if (cfg.eof !== undefined) settings.set('package_eof', cfg.eof);
  if (cfg.lengthType !== undefined) settings.set('package_length_type', cfg.lengthType);
  if (cfg.lengthOffset !== undefined) settings.set('package_length_offset', cfg.lengthOffset);
  if (cfg.bodyOffset !== undefined) settings.set('package_body_offset', cfg.bodyOffset);
  if (cfg.maxLength !== undefined) settings.set('package_max_length', cfg.maxLength);
}

let sink = 0; // results go here so no loop is dead code
// Consumers keep the last frames they got, as a host passing them on would:
// a frame Buffer that never escapes could be optimized away.
const keep = new Array(256).fill(null);

function passWasm(conn, chunks) {
  let bytes = 0;
  for (let k = 0; k < chunks.length; k++) {
    const chunk = chunks[k];
    const n = c.feed(conn, chunk);
    for (let i = 0; i < n; i++) {
      const m = c.message(chunk, i);
      keep[i & 255] = m;
      bytes += m.length;
    }
    if (c.error !== 0) throw new Error(`core error ${c.error}`);
  }
  return bytes;
}

function passWasmBounds(conn, chunks) {
  let bytes = 0;
  for (let k = 0; k < chunks.length; k++) {
    const n = c.feed(conn, chunks[k]);
    const f = c.frames;
    for (let i = 0; i < n; i++) bytes += f[3 * i + 1];
    if (c.error !== 0) throw new Error(`core error ${c.error}`);
  }
  return bytes;
}

function passJs(f, chunks) {
  let bytes = 0;
  for (let k = 0; k < chunks.length; k++) {
    const n = f.feed(chunks[k]);
    const out = f.out;
    for (let i = 0; i < n; i++) {
      const m = out[i];
      keep[i & 255] = m;
      bytes += m.length;
    }
    if (f.error !== 0) throw new Error(`js framer error ${f.error}`);
  }
  return bytes;
}

function passJsBounds(f, chunks) {
  let bytes = 0;
  for (let k = 0; k < chunks.length; k++) {
    const n = f.feed(chunks[k]);
    const b = f.bounds;
    for (let i = 0; i < n; i++) bytes += b[2 * i + 1];
    if (f.error !== 0) throw new Error(`js framer error ${f.error}`);
  }
  return bytes;
}

/** A side: run(reps) times `reps` passes over the case's chunks on a fresh connection. */
function wasmSide(_cfg, chunks, bounds) {
  const pass = bounds ? passWasmBounds : passWasm;
  return (reps) => {
    const conn = c.open(settings.store);
    let s = 0;
    for (let r = 0; r < reps; r++) s += pass(conn, chunks);
    c.close(conn);
    return s;
  };
}

function jsSide(cfg, chunks, bounds) {
  const pass = bounds ? passJsBounds : passJs;
  return (reps) => {
    const f = new JsFramer(cfg, bounds, JS_FASTBUF);
    let s = 0;
    for (let r = 0; r < reps; r++) s += pass(f, chunks);
    return s;
  };
}

// ---------------------------------------------------------------- correctness

/** The frames of one pass over the chunks, as the Buffers the side handed out. */
function collectWasm(chunks) {
  const conn = c.open(settings.store);
  const frames = [];
  for (const chunk of chunks) {
    const n = c.feed(conn, chunk);
    for (let i = 0; i < n; i++) frames.push(c.message(chunk, i));
    if (c.error !== 0) throw new Error(`core error ${c.error}`);
  }
  const left = c.buffered(conn);
  c.close(conn);
  if (left !== 0) throw new Error(`core left ${left} bytes buffered`);
  return frames;
}

function collectJs(cfg, chunks) {
  const f = new JsFramer(cfg, false, JS_FASTBUF);
  const frames = [];
  for (const chunk of chunks) {
    const n = f.feed(chunk);
    for (let i = 0; i < n; i++) frames.push(f.out[i]);
    if (f.error !== 0) throw new Error(`js framer error ${f.error}`);
  }
  return frames;
}

function sameFrames(label, side, got, stream, lengths) {
  if (got.length !== lengths.length) {
    throw new Error(`MISMATCH ${label}: ${side} gave ${got.length} frames, expected ${lengths.length}`);
  }
  let off = 0;
  for (let i = 0; i < got.length; i++) {
    const want = stream.subarray(off, off + lengths[i]);
    if (!Buffer.isBuffer(got[i]) || !got[i].equals(want)) {
      throw new Error(
        `MISMATCH ${label}: ${side} frame ${i} (at ${off}) is ${got[i].length} B, expected ${lengths[i]} B` +
          `: ${JSON.stringify(got[i].subarray(0, 40).toString('latin1'))} vs ${JSON.stringify(want.subarray(0, 40).toString('latin1'))}`,
      );
    }
    off += lengths[i];
  }
}

/** Asserts WASM and JS both give exactly the frames the stream was built from. */
function assertEqual(label, cfg, chunks, stream, lengths) {
  configure(cfg);
  sameFrames(label, 'wasm', collectWasm(chunks), stream, lengths);
  sameFrames(label, 'js', collectJs(cfg, chunks), stream, lengths);
}

/** Random chunkings over every protocol, delimiter and pack code: checks the JS framer's leftover paths. */
function selfCheck() {
  const r = rng(7);
  const checks = [];
  for (const eof of ['\r\n', '\n', '|', 'END', '\r\n\r\n', '<<EOF>>!']) {
    checks.push([{ protocol: 'eof', eof }, eofStream(20000, () => r.int(eof.length, 300), r, eof)]);
  }
  for (const type of Object.keys(FIELD_SIZE)) {
    const loff = r.int(0, 3);
    const boff = loff + FIELD_SIZE[type] + r.int(0, 3);
    const big = FIELD_SIZE[type] === 1 ? 120 : 3000;
    checks.push([
      { protocol: 'length', lengthType: type, lengthOffset: loff, bodyOffset: boff },
      lengthStream(30000, () => r.int(boff, boff + big), r, { type, loff, boff }),
    ]);
  }
  checks.push([{ protocol: 'http' }, httpStream(40000, r)]);
  checks.push([{ protocol: 'http' }, httpBigStream(100000, () => r.int(200, 5000), r)]);
  for (const [cfg, { stream, lengths }] of checks) {
    for (const max of [64, 700]) {
      const chunks = randomSplit(stream, r, max);
      assertEqual(`self-check ${cfg.protocol} ${JSON.stringify(cfg)} chunks<=${max}`, cfg, chunks, stream, lengths);
    }
  }
  // raw: one frame per chunk
  const raw = Buffer.from('x'.repeat(1000));
  const chunks = randomSplit(raw, r, 100);
  configure({ protocol: 'raw' });
  const lengths = Int32Array.from(chunks, (ch) => ch.length);
  sameFrames('self-check raw', 'wasm', collectWasm(chunks), raw, lengths);
  sameFrames('self-check raw', 'js', collectJs({ protocol: 'raw' }, chunks), raw, lengths);
}

// ---------------------------------------------------------------- timing

const now = () => process.hrtime.bigint();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Seconds per pass of one sample of `reps` passes. */
function sample(run, reps) {
  const t0 = now();
  sink += run(reps);
  return Number(now() - t0) / 1e9 / reps;
}

/** Warms both sides up, sizes the samples, then alternates them: median seconds per pass per side, and the ratio. */
function race(wasm, js, rounds = ROUNDS, reps = 0) {
  const calibrate = (run) => {
    let spent = 0,
      passes = 0;
    while (passes < 3 || spent < 0.06) {
      spent += sample(run, 1);
      passes++;
    }
    // re-measure once warm
    const per = sample(run, 1);
    return Math.max(1, Math.round(SAMPLE_MS / 1e3 / per));
  };
  const wr = reps || calibrate(wasm);
  const jr = reps || calibrate(js);
  const ws = [],
    jt = [],
    pairs = [];
  for (let i = 0; i < rounds; i++) {
    let w, j;
    if (i % 2 === 0) {
      w = sample(wasm, wr);
      j = sample(js, jr);
    } else {
      j = sample(js, jr);
      w = sample(wasm, wr);
    }
    ws.push(w);
    jt.push(j);
    pairs.push(j / w);
  }
  // The ratio is the median of back-to-back pairs: on a shared machine the
  // load drifts, and a pair sees the same load far more often than two medians.
  return { wasm: median(ws), js: median(jt), ratio: median(pairs) };
}

// ---------------------------------------------------------------- cases

const cases = [];

/** Builds a stream on first use, with one seed per stream. */
function once(build, seed) {
  let built;
  return () => (built ??= build(rng(seed)));
}

function throughput(name, cfg, chunk, frameLabel, build, target, { bounds = false } = {}) {
  cases.push({ kind: 'throughput', name, cfg, chunk, frameLabel, built: once(build, cases.length + 1), target, bounds });
}

// Frame sizes for the big-frame streams: a 1000-byte frame first, so chunk
// boundaries fall inside frames (socket reads do not align with frames).
const LEAD = 1000;
const sized = (frame) => {
  let first = true;
  return () => {
    if (!first) return frame;
    first = false;
    return LEAD;
  };
};

const SMALL = 4 * MiB; // stream bytes per pass, small frames
const BIG = 16 * MiB; // stream bytes per pass, 8K/32K frames
throughput('eof small', { protocol: 'eof' }, 16 * KiB, '10-100', (r) => eofStream(SMALL, () => r.int(10, 100), r), 3.0, {
  bounds: true,
});
throughput('http pipelined', { protocol: 'http' }, 16 * KiB, '80-260', (r) => httpStream(SMALL, r), 2.5, { bounds: true });
throughput('length small', { protocol: 'length' }, 16 * KiB, '16-64', (r) => lengthStream(SMALL, () => r.int(16, 64), r), 1.4, {
  bounds: true,
});
for (const proto of ['eof', 'length', 'http']) {
  for (const frame of [8 * KiB, 32 * KiB]) {
    const build =
      proto === 'eof'
        ? (r) => eofStream(BIG, sized(frame), r)
        : proto === 'length'
          ? (r) => lengthStream(BIG, sized(frame), r)
          : (r) => httpBigStream(BIG, sized(frame), r);
    for (const chunk of [16 * KiB, 64 * KiB]) {
      throughput(`${proto} ${frame / KiB}K`, { protocol: proto }, chunk, `${frame / KiB}K`, build, 1.0, { bounds: true });
    }
  }
}
const bigCfg = { protocol: 'length', maxLength: 128 * MiB };
throughput('length 64M', bigCfg, 64 * KiB, '64M', (r) => lengthStream(1, () => 64 * MiB, r), 'linear');
cases.push({ kind: 'call', name: 'call cost', cfg: { protocol: 'eof' }, chunk: 16, frameLabel: '16', calls: CALLS });

// ---------------------------------------------------------------- measuring one case (child process)

/** Measures case `idx`; returns one record per variant (messages, boundaries). */
function measure(idx) {
  const cs = cases[idx];
  if (cs.kind === 'call') return measureCalls(cs);
  const { stream, lengths } = cs.built();
  const chunks = split(stream, cs.chunk);
  if (CHECK) assertEqual(`${cs.name} ${cs.chunk}`, cs.cfg, chunks, stream, lengths);
  configure(cs.cfg);
  const out = [];
  for (const bounds of cs.bounds ? [false, true] : [false]) {
    const t = race(wasmSide(cs.cfg, chunks, bounds), jsSide(cs.cfg, chunks, bounds));
    out.push({ bounds, wasm_s: t.wasm, js_s: t.js, ratio: t.ratio, bytes: stream.length, frames: lengths.length });
  }
  if (cs.target === 'linear') out[0].copy_s = copyOnce(chunks, stream.length);
  return out;
}

/** Seconds to copy the chunks once into a fresh Buffer: the least any framer does for one big frame (median of 5). */
function copyOnce(chunks, total) {
  const ts = [];
  for (let r = 0; r < 5; r++) {
    const t0 = now();
    const b = Buffer.allocUnsafe(total);
    let off = 0;
    for (const ch of chunks) off += ch.copy(b, off);
    keep[r] = b;
    ts.push(Number(now() - t0) / 1e9);
  }
  keep.fill(null);
  return median(ts);
}

/** The fixed cost of one call: a 16-byte chunk holding one eof frame, fed `calls` times per sample. */
function measureCalls(cs) {
  const chunk = Buffer.from('0123456789abcd\r\n', 'latin1');
  const N = cs.calls;
  if (CHECK) {
    assertEqual('call cost', cs.cfg, [chunk, chunk, chunk], Buffer.concat([chunk, chunk, chunk]), Int32Array.of(16, 16, 16));
  }
  configure(cs.cfg);
  const wasm = (bounds) => (reps) => {
    const conn = c.open(settings.store);
    let s = 0;
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < N; k++) {
        const n = c.feed(conn, chunk);
        if (bounds) s += c.frames[1];
        else {
          for (let i = 0; i < n; i++) {
            const m = c.message(chunk, i);
            keep[k & 255] = m;
            s += m.length;
          }
        }
      }
    }
    c.close(conn);
    return s;
  };
  const js = (bounds) => (reps) => {
    const f = new JsFramer(cs.cfg, bounds, JS_FASTBUF);
    let s = 0;
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < N; k++) {
        const n = f.feed(chunk);
        if (bounds) s += f.bounds[1];
        else {
          for (let i = 0; i < n; i++) {
            const m = f.out[i];
            keep[k & 255] = m;
            s += m.length;
          }
        }
      }
    }
    return s;
  };
  const out = [];
  for (const bounds of [false, true]) {
    // one sample = N calls, after a warm-up sample each
    sink += wasm(bounds)(1) + js(bounds)(1);
    const t = race(wasm(bounds), js(bounds), Math.min(ROUNDS, 5), 1);
    out.push({ bounds, wasm_s: t.wasm, js_s: t.js, ratio: t.ratio, bytes: 16 * N, frames: N, calls: N });
  }
  return out;
}

// ---------------------------------------------------------------- report (parent process)

const fmtSize = (n) => (n >= MiB && n % MiB === 0 ? `${n / MiB}M` : n >= KiB && n % KiB === 0 ? `${n / KiB}K` : `${n}`);
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const COLS = ['case', 'proto', 'chunk', 'frame', 'wasm MB/s', 'js MB/s', 'wasm fr/s', 'js fr/s', 'ratio', 'target'];

function printRow(cols) {
  log(
    cols
      .map((x, i) => (i < 2 ? String(x).padEnd(i === 0 ? 27 : 6) : String(x).padStart(i === 9 ? 0 : i === 8 ? 6 : 10)))
      .join(' '),
  );
}

/** Runs each case in its own process: no case's JIT feedback leaks into another's. */
function runChild(idx) {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), `--child=${idx}`, `--rounds=${ROUNDS}`];
  if (!CHECK) args.push('--no-check');
  if (JS_FASTBUF) args.push('--js-fastbuf');
  const res = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.status !== 0) {
    process.stderr.write(res.stderr);
    throw new Error(`bench case "${cases[idx].name} ${fmtSize(cases[idx].chunk)}" failed (exit ${res.status ?? res.signal})`);
  }
  return JSON.parse(res.stdout);
}

function main() {
  const t0 = now();
  if (CHECK) {
    selfCheck();
    log('self-check: wasm and js give the same frames on random chunkings (all eof/length/http settings)');
  }
  printRow(COLS);
  const results = [];
  for (let idx = 0; idx < cases.length; idx++) {
    const cs = cases[idx];
    if (FILTER && !cs.name.includes(FILTER)) continue;
    for (const m of runChild(idx)) {
      const name = m.bounds ? `${cs.name} [boundaries]` : cs.name;
      const wasmMbps = m.bytes / m.wasm_s / 1e6;
      const jsMbps = m.bytes / m.js_s / 1e6;
      const ratio = m.ratio;
      const rec = {
        case: name,
        protocol: cs.cfg.protocol,
        chunk: cs.chunk,
        frame: cs.frameLabel,
        wasm_mbps: round(wasmMbps),
        js_mbps: round(jsMbps),
        ratio: round(ratio, 3),
        wasm_fps: Math.round(m.frames / m.wasm_s),
        js_fps: Math.round(m.frames / m.js_s),
        variant: m.bounds ? 'boundaries' : 'messages',
        target: null,
        pass: null,
      };
      let verdict = '';
      let wasmCol = wasmMbps.toFixed(0);
      let jsCol = jsMbps.toFixed(0);
      if (m.calls) {
        rec.wasm_ns_per_call = round((m.wasm_s * 1e9) / m.calls, 2);
        rec.js_ns_per_call = round((m.js_s * 1e9) / m.calls, 2);
        wasmCol = `${rec.wasm_ns_per_call.toFixed(1)} ns`;
        jsCol = `${rec.js_ns_per_call.toFixed(1)} ns`;
        if (!m.bounds) {
          rec.target = 'wasm < 30 ns/call';
          rec.pass = rec.wasm_ns_per_call < 30;
          verdict = `<30ns ${rec.pass ? 'PASS' : 'MISS'}`;
        }
      } else if (!m.bounds && cs.target === 'linear') {
        // linear: each side within 8x of one plain copy of the stream into a fresh
        // Buffer (a side that re-copied its leftover on every chunk would be ~500x)
        rec.copy_mbps = round(m.bytes / m.copy_s / 1e6);
        rec.target = 'linear: within 8x of one copy';
        rec.pass = m.wasm_s <= 8 * m.copy_s && m.js_s <= 8 * m.copy_s;
        verdict = `linear ${rec.pass ? 'PASS' : 'MISS'} (1 copy: ${rec.copy_mbps.toFixed(0)} MB/s)`;
      } else if (!m.bounds && typeof cs.target === 'number') {
        rec.target = cs.target;
        rec.pass = ratio >= cs.target;
        verdict = `>=${cs.target.toFixed(1)} ${rec.pass ? 'PASS' : 'MISS'}`;
      }
      printRow([
        name,
        cs.cfg.protocol,
        fmtSize(cs.chunk),
        cs.frameLabel,
        wasmCol,
        jsCol,
        rec.wasm_fps.toExponential(2),
        rec.js_fps.toExponential(2),
        ratio.toFixed(2),
        verdict,
      ]);
      results.push(rec);
    }
  }
  log(
    `MB/s: median of ${ROUNDS} alternating samples per side; ratio: median of the ${ROUNDS} back-to-back wasm/js pairs; ` +
      `each case in its own process; ` +
      `${(Number(now() - t0) / 1e9).toFixed(1)} s`,
  );
  if (JSON_OUT) process.stdout.write(JSON.stringify(results) + '\n');
}

if (CHILD >= 0) {
  const out = measure(CHILD);
  process.stdout.write(JSON.stringify(out) + '\n');
  if (sink === 0.5) console.error(sink); // keep the results observable
} else {
  main();
}
