// Framing throughput: the WASM core (through its host binding) against a
// straightforward pure-JS framer, on the same in-memory streams.
//
//   node bench/core.mjs [--json] [--rounds=N] [--filter=substring] [--no-check]
//
// Both sides take the full path a host uses: chunk in -> one Buffer per frame
// out (a subarray of the chunk, or a fresh Buffer for a frame that spanned
// chunks). "boundaries" lines measure only finding the frames: WASM `feed` and
// reading the (offset, length) triples; JS the indexOf/readUInt loop without
// making subarrays. MB/s counts 1e6 bytes of stream per second.
import { core } from '../build/src/core.js';
import { Settings } from '../build/src/settings.js';
import { JsFramer } from './js-framer.mjs';

const argv = process.argv.slice(2);
const JSON_OUT = argv.includes('--json');
const CHECK = !argv.includes('--no-check');
const ROUNDS = Number((argv.find((a) => a.startsWith('--rounds=')) ?? '--rounds=7').slice(9));
const FILTER = (argv.find((a) => a.startsWith('--filter=')) ?? '--filter=').slice(9);
const SAMPLE_MS = 40;   // one timed sample: this many ms of repeated passes
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
    case 'c': b.writeInt8(v, p); break;
    case 'C': b.writeUInt8(v, p); break;
    case 's': b.writeInt16LE(v, p); break;
    case 'S': case 'v': b.writeUInt16LE(v, p); break;
    case 'n': b.writeUInt16BE(v, p); break;
    case 'l': b.writeInt32LE(v, p); break;
    case 'L': case 'V': b.writeUInt32LE(v, p); break;
    default: b.writeUInt32BE(v, p);
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

/** POST requests of exactly `size` bytes (head + Content-Length body). */
function httpBigStream(bytes, size, r) {
  const frames = [];
  let total = 0;
  while (total < bytes) {
    const pre = 'POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/octet-stream\r\nContent-Length: ';
    let body = size - pre.length - 4 - String(size).length;
    body = size - pre.length - 4 - String(body).length;
    const head = Buffer.from(`${pre}${body}\r\n\r\n`, 'latin1');
    const f = Buffer.allocUnsafe(size);
    head.copy(f);
    fillText(f, head.length, size, r);
    frames.push(f);
    total += size;
  }
  return assemble(frames);
}

function split(stream, chunk) {
  const out = [];
  for (let i = 0; i < stream.length; i += chunk) out.push(stream.subarray(i, Math.min(i + chunk, stream.length)));
  return out;
}

function randomSplit(stream, r, maxChunk) {
  const out = [];
  for (let i = 0; i < stream.length;) {
    const n = r() < 0.1 ? 1 : r.int(1, maxChunk);
    out.push(stream.subarray(i, Math.min(i + n, stream.length)));
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------- the two sides

const c = core();
const settings = new Settings();

/** Applies a case's settings to the core (read by the next `open`). */
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

function passWasm(conn, chunks) {
  let bytes = 0;
  for (let k = 0; k < chunks.length; k++) {
    const chunk = chunks[k];
    const n = c.feed(conn, chunk);
    for (let i = 0; i < n; i++) bytes += c.message(chunk, i).length;
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
    for (let i = 0; i < n; i++) bytes += out[i].length;
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
function wasmSide(cfg, chunks, bounds) {
  const pass = bounds ? passWasmBounds : passWasm;
  return (reps) => {
    const conn = c.open();
    let s = 0;
    for (let r = 0; r < reps; r++) s += pass(conn, chunks);
    c.close(conn);
    return s;
  };
}

function jsSide(cfg, chunks, bounds) {
  const pass = bounds ? passJsBounds : passJs;
  return (reps) => {
    const f = new JsFramer(cfg, bounds);
    let s = 0;
    for (let r = 0; r < reps; r++) s += pass(f, chunks);
    return s;
  };
}

// ---------------------------------------------------------------- correctness

/** Frames of one pass, as Buffers copied out (WASM or JS). */
function collectWasm(chunks) {
  const conn = c.open();
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
  const f = new JsFramer(cfg);
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
      throw new Error(`MISMATCH ${label}: ${side} frame ${i} (at ${off}) is ${got[i].length} B, expected ${lengths[i]} B` +
        `: ${JSON.stringify(got[i].subarray(0, 40).toString('latin1'))} vs ${JSON.stringify(want.subarray(0, 40).toString('latin1'))}`);
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
    checks.push([{ protocol: 'length', lengthType: type, lengthOffset: loff, bodyOffset: boff },
      lengthStream(30000, () => r.int(boff, boff + big), r, { type, loff, boff })]);
  }
  checks.push([{ protocol: 'http' }, httpStream(40000, r)]);
  checks.push([{ protocol: 'http' }, httpBigStream(100000, 5000, r)]);
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

/** Warms both sides up, sizes the samples, then alternates them; returns median seconds per pass. */
function race(wasm, js, rounds = ROUNDS) {
  const calibrate = (run) => {
    let spent = 0, passes = 0;
    while (passes < 3 || spent < 0.06) {
      spent += sample(run, 1);
      passes++;
    }
    // re-measure once warm
    const per = sample(run, 1);
    return Math.max(1, Math.round(SAMPLE_MS / 1e3 / per));
  };
  const wr = calibrate(wasm);
  const jr = calibrate(js);
  const ws = [], jt = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) { ws.push(sample(wasm, wr)); jt.push(sample(js, jr)); }
    else { jt.push(sample(js, jr)); ws.push(sample(wasm, wr)); }
  }
  return { wasm: median(ws), js: median(jt) };
}

// ---------------------------------------------------------------- cases

const cases = [];

/** Builds a stream on first use (one seed per stream), shared by the cases that frame it. */
function once(build) {
  let built;
  const seed = cases.length + 1;
  return () => (built ??= build(rng(seed)));
}

function throughput(name, cfg, chunk, frameLabel, built, target, { bounds = false } = {}) {
  cases.push({ kind: 'throughput', name, cfg, chunk, frameLabel, built: built.length ? once(built) : built, target, bounds });
}

const small = 4 * MiB;
throughput('eof small', { protocol: 'eof' }, 16 * KiB, '10-100',
  (r) => eofStream(small, () => r.int(10, 100), r), 3.0, { bounds: true });
throughput('http pipelined', { protocol: 'http' }, 16 * KiB, '80-260',
  (r) => httpStream(small, r), 2.5, { bounds: true });
throughput('length small', { protocol: 'length' }, 16 * KiB, '16-64',
  (r) => lengthStream(small, () => r.int(16, 64), r), 1.4, { bounds: true });
for (const proto of ['eof', 'length', 'http']) {
  for (const frame of [8 * KiB, 32 * KiB]) {
    const built = once(proto === 'eof' ? (r) => eofStream(16 * MiB, () => frame, r)
      : proto === 'length' ? (r) => lengthStream(16 * MiB, () => frame, r)
        : (r) => httpBigStream(16 * MiB, frame, r));
    for (const chunk of [16 * KiB, 64 * KiB]) {
      throughput(`${proto} ${frame / KiB}K`, { protocol: proto }, chunk, `${frame / KiB}K`, built, 1.0,
        { bounds: proto === 'eof' });
    }
  }
}
const bigCfg = { protocol: 'length', maxLength: 128 * MiB };
throughput('length 4M', bigCfg, 64 * KiB, '4M', (r) => lengthStream(16 * MiB, () => 4 * MiB, r), null);
throughput('length 64M', bigCfg, 64 * KiB, '64M', (r) => lengthStream(1, () => 64 * MiB, r), 'linear');
cases.push({ kind: 'call', name: 'call cost', cfg: { protocol: 'eof' }, chunk: 16, frameLabel: '16', calls: 2_000_000 });

// ---------------------------------------------------------------- run

const fmtSize = (n) => (n >= MiB && n % MiB === 0 ? `${n / MiB}M` : n >= KiB && n % KiB === 0 ? `${n / KiB}K` : `${n}`);
const results = [];
const rows = [];

function row(cols) {
  rows.push(cols);
  log(cols.map((x, i) => (i < 2 ? String(x).padEnd(i === 0 ? 26 : 7) : String(x).padStart(i === 8 ? 7 : 11))).join(' '));
}

function header() {
  row(['case', 'proto', 'chunk', 'frame', 'wasm MB/s', 'js MB/s', 'wasm fr/s', 'js fr/s', 'ratio', 'target']);
}

const t0 = now();
if (CHECK) {
  selfCheck();
  log('self-check: wasm and js frames equal on random chunkings (eof delimiters, all pack codes, http)');
}
header();

const perByName = {};
for (const cs of cases) {
  if (FILTER && !cs.name.includes(FILTER)) continue;
  if (cs.kind === 'call') {
    runCall(cs);
    continue;
  }
  const { stream, lengths } = cs.built();
  const chunks = split(stream, cs.chunk);
  if (CHECK) assertEqual(`${cs.name} ${fmtSize(cs.chunk)}`, cs.cfg, chunks, stream, lengths);
  configure(cs.cfg);
  const variants = cs.bounds ? [false, true] : [false];
  for (const bounds of variants) {
    const t = race(wasmSide(cs.cfg, chunks, bounds), jsSide(cs.cfg, chunks, bounds));
    const wasmMbps = stream.length / t.wasm / 1e6;
    const jsMbps = stream.length / t.js / 1e6;
    const ratio = t.js / t.wasm;
    let target = cs.target;
    let verdict = '';
    if (bounds) {
      target = null;
    } else if (target === 'linear') {
      // linear: the 64 MiB frame runs at least half as fast as 4 MiB frames, on each side
      const ref = perByName['length 4M'];
      verdict = ref ? (wasmMbps >= ref.wasm / 2 && jsMbps >= ref.js / 2 ? 'PASS' : 'MISS') : '?';
      verdict = `linear ${verdict}`;
    } else if (target !== null) {
      verdict = `>=${target.toFixed(1)} ${ratio >= target ? 'PASS' : 'MISS'}`;
    }
    const name = bounds ? `${cs.name} [boundaries]` : cs.name;
    if (!bounds) perByName[cs.name] = { wasm: wasmMbps, js: jsMbps };
    const fps = (s) => lengths.length / s;
    row([name, cs.cfg.protocol, fmtSize(cs.chunk), cs.frameLabel, wasmMbps.toFixed(0), jsMbps.toFixed(0),
      fps(t.wasm).toExponential(2), fps(t.js).toExponential(2), ratio.toFixed(2), verdict]);
    results.push({
      case: name, protocol: cs.cfg.protocol, chunk: cs.chunk, frame: cs.frameLabel,
      wasm_mbps: round(wasmMbps), js_mbps: round(jsMbps), ratio: round(ratio, 3),
      wasm_fps: Math.round(fps(t.wasm)), js_fps: Math.round(fps(t.js)),
      variant: bounds ? 'boundaries' : 'messages',
      target: target ?? null, pass: verdict === '' ? null : verdict.endsWith('PASS'),
    });
  }
}

function round(x, d = 1) {
  const m = 10 ** d;
  return Math.round(x * m) / m;
}

/** The fixed cost of one call: a 16-byte chunk holding one eof frame, fed `calls` times. */
function runCall(cs) {
  const chunk = Buffer.from('0123456789abcd\r\n', 'latin1');
  const N = cs.calls;
  configure(cs.cfg);
  assertEqual('call cost', cs.cfg, [chunk, chunk, chunk], Buffer.concat([chunk, chunk, chunk]), Int32Array.of(16, 16, 16));
  const wasm = (bounds) => (reps) => {
    const conn = c.open();
    let s = 0;
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < N; k++) {
        const n = c.feed(conn, chunk);
        if (bounds) s += c.frames[1];
        else for (let i = 0; i < n; i++) s += c.message(chunk, i).length;
      }
    }
    c.close(conn);
    return s;
  };
  const js = (bounds) => (reps) => {
    const f = new JsFramer(cs.cfg, bounds);
    let s = 0;
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < N; k++) {
        const n = f.feed(chunk);
        if (bounds) s += f.bounds[1];
        else for (let i = 0; i < n; i++) s += f.out[i].length;
      }
    }
    return s;
  };
  for (const bounds of [false, true]) {
    const t = raceCalls(wasm(bounds), js(bounds));
    const wns = t.wasm * 1e9 / N;
    const jns = t.js * 1e9 / N;
    const name = bounds ? `${cs.name} [boundaries]` : cs.name;
    const verdict = bounds ? '' : `<30ns ${wns < 30 ? 'PASS' : 'MISS'}`;
    row([name, 'eof', '16', '16', `${wns.toFixed(1)} ns`, `${jns.toFixed(1)} ns`,
      (N / t.wasm).toExponential(2), (N / t.js).toExponential(2), (t.js / t.wasm).toFixed(2), verdict]);
    results.push({
      case: name, protocol: 'eof', chunk: 16, frame: '16',
      wasm_mbps: round(16 * N / t.wasm / 1e6), js_mbps: round(16 * N / t.js / 1e6), ratio: round(t.js / t.wasm, 3),
      wasm_fps: Math.round(N / t.wasm), js_fps: Math.round(N / t.js),
      wasm_ns_per_call: round(wns, 2), js_ns_per_call: round(jns, 2),
      variant: bounds ? 'boundaries' : 'messages',
      target: bounds ? null : '<30ns', pass: bounds ? null : wns < 30,
    });
  }
}

/** Like race, with one sample = one run of N calls (after a warm-up run each). */
function raceCalls(wasm, js) {
  sink += wasm(1);
  sink += js(1);
  const ws = [], jt = [];
  const rounds = Math.max(3, Math.min(ROUNDS, 5));
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) { ws.push(sample(wasm, 1)); jt.push(sample(js, 1)); }
    else { jt.push(sample(js, 1)); ws.push(sample(wasm, 1)); }
  }
  return { wasm: median(ws), js: median(jt) };
}

log(`(${(Number(now() - t0) / 1e9).toFixed(1)} s; ratio = wasm/js throughput; median of ${ROUNDS} alternating samples; sink ${sink % 7})`);
if (JSON_OUT) process.stdout.write(JSON.stringify(results, null, 1) + '\n');
