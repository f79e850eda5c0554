// What a connection's unfinished input costs, in process: the host's held
// bytes (src/held.ts) stay within about 2x their size whatever the chunking,
// the core's own buffers fail one connection with ERR_OUT_OF_MEMORY instead
// of trapping when linear memory cannot grow, and both are counted in
// heldTotal() for the worker's input_buffer_limit.
import { afterAll, describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { core } from '../src/core.js';
import { Held } from '../src/held.js';
import { Settings } from '../src/settings.js';
import * as S from '../assembly/status.js';

const c = core();
const settings = new Settings();
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function openWith(cfg: Record<string, string | number | boolean>): number {
  settings.reset();
  for (const [k, v] of Object.entries(cfg)) settings.set(k, v);
  return c.open(settings.store);
}

/** Bytes alive after a full GC: the JS heap and ArrayBuffer contents (a Buffer per read costs both). */
function arrayBuffers(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A chunk with a backing store of its own, as a socket read gives. */
function own(bytes: Uint8Array | string): Buffer {
  const src = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const b = Buffer.allocUnsafeSlow(src.length);
  b.set(src);
  return b;
}

afterAll(() => {
  c.memoryLimit(0);
  settings.reset();
});

describe('held bytes', () => {
  it('keep the bytes in order for any mix of piece sizes and offsets (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 70_000 }), fc.nat(), fc.nat()), { minLength: 1, maxLength: 20 }),
        (pieces) => {
          const h = new Held();
          const want: Buffer[] = [];
          let n = 0;
          let pinned = 0;
          for (const [len, off, pad] of pieces) {
            // A chunk of len bytes inside a backing store with padding around it (0 to 2x), from `from`.
            const backing = Buffer.allocUnsafeSlow(len + (pad % (len + 1)));
            for (let i = 0; i < backing.length; i++) backing[i] = (n + i) & 0xff;
            const chunk = backing.subarray(0, len);
            const from = n === 0 ? off % len : 0;
            pinned += h.add(chunk, from);
            n += len - from;
            want.push(chunk.subarray(from));
          }
          const tail = own('END');
          const out = h.join(tail, 3);
          expect(out.equals(Buffer.concat([...want, tail]))).toBe(true);
          expect(h.bytes).toBe(n);
          // What it pins: at least the bytes, at most twice them plus one read (the first piece's).
          expect(h.cost).toBeGreaterThanOrEqual(n);
          expect(h.cost).toBeLessThanOrEqual(2 * n + 65536 + 256);
          expect(h.release()).toBe(pinned);
          expect([h.bytes, h.cost]).toEqual([0, 0]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('an eof frame trickled in 1-byte chunks costs under 2x its bytes, then comes out whole', () => {
    const conn = openWith({ protocol: 'eof', package_max_length: 4 * 1024 * 1024 });
    try {
      const size = 100_000;
      const before = arrayBuffers();
      for (let i = 0; i < size; i++) {
        const n = c.feed(conn, own(String.fromCharCode(97 + (i % 26))));
        expect(n).toBe(0);
      }
      expect(c.buffered(conn)).toBe(size);
      // What the connection pins, by the host's count: at most twice the bytes plus one read.
      expect(c.holding(conn)).toBeLessThanOrEqual(2 * size + 65536);
      // And by the process's: each 1-byte read kept as its own Buffer cost ~200 bytes a byte
      // (20 MiB here); the JS heap's own noise is a few hundred KiB.
      expect(arrayBuffers() - before).toBeLessThan(1024 * 1024);
      const n = c.feed(conn, own('\r\n'));
      expect(n).toBe(1);
      const frame = c.message(own('\r\n'), 0);
      expect(frame.length).toBe(size + 2);
      for (let i = 0; i < size; i += 9973) expect(frame[i]).toBe(97 + (i % 26));
      expect(c.buffered(conn)).toBe(0);
    } finally {
      c.close(conn);
    }
  });

  it('the first byte of a frame at the end of a 64 KiB read does not pin the read', () => {
    const conns = Array.from({ length: 200 }, () => openWith({ protocol: 'eof' }));
    try {
      const before = arrayBuffers();
      for (const conn of conns) {
        // 64 KiB of whole lines, then one byte of the next line.
        const chunk = Buffer.allocUnsafeSlow(65536);
        chunk.fill(0x61);
        for (let i = 99; i < 65535; i += 100) {
          chunk[i - 1] = 0x0d;
          chunk[i] = 0x0a;
        }
        chunk[65534] = 0x0a;
        chunk[65533] = 0x0d;
        chunk[65535] = 0x62;
        c.feed(conn, chunk);
        expect(c.buffered(conn)).toBe(1);
      }
      // 200 reads of 64 KiB kept for one byte each would be 12.5 MiB; copied, a few hundred
      // bytes each (the JS heap's own noise is a few hundred KiB).
      expect(arrayBuffers() - before).toBeLessThan(1024 * 1024);
    } finally {
      for (const conn of conns) c.close(conn);
    }
  });

  it('heldTotal counts the host bytes and the core buffers, and returns to its start when connections close', () => {
    const start = c.heldTotal();
    const eof = openWith({ protocol: 'eof' });
    const http = openWith({ protocol: 'http' });
    try {
      c.feed(eof, own('x'.repeat(5000)));
      c.feed(http, own(`GET / HTTP/1.1\r\nX: ${'y'.repeat(3000)}`));
      expect(c.holding(eof)).toBe(5000);
      // The unfinished head lives in the core's buffer (capacity: a power of two from 256).
      expect(c.holding(http)).toBeGreaterThanOrEqual(3000);
      expect(c.heldTotal() - start).toBe(c.holding(eof) + c.holding(http));
    } finally {
      c.close(eof);
      c.close(http);
    }
    expect(c.heldTotal()).toBe(start);
  });
});

describe('linear memory exhausted', () => {
  it('a head that needs more memory than the core may take fails that connection with ERR_OUT_OF_MEMORY; the core goes on', () => {
    const pages = c.memory.buffer.byteLength >> 16;
    // Room for the core's reserve and ~8 MiB more, not for a 16 MiB head.
    c.memoryLimit(pages + S.MEMORY_HEADROOM_PAGES + 128);
    const big = openWith({ protocol: 'http', package_max_length: 64 * 1024 * 1024 });
    const other = openWith({ protocol: 'http' });
    try {
      const piece = own('a'.repeat(65536));
      let error = c.feed(big, own('GET / HTTP/1.1\r\nX: ')) >= 0 ? c.error : -1;
      let sent = 0;
      while (error === S.OK && sent < 32 * 1024 * 1024) {
        c.feed(big, piece);
        error = c.error;
        sent += piece.length;
      }
      expect(error).toBe(S.ERR_OUT_OF_MEMORY);
      expect(sent).toBeLessThan(16 * 1024 * 1024);
      expect(c.memory.buffer.byteLength >> 16).toBeLessThanOrEqual(pages + S.MEMORY_HEADROOM_PAGES + 128);
      // Sticky for that connection, like any framing error.
      c.feed(big, own('\r\n\r\n'));
      expect(c.error).toBe(S.ERR_OUT_OF_MEMORY);
      // Another connection is framed as before.
      const req = own('GET /ok HTTP/1.1\r\nHost: h\r\n\r\n');
      expect(c.feed(other, req)).toBe(1);
      expect(c.message(req, 0).toString()).toBe(req.toString());
    } finally {
      c.close(big);
      c.close(other);
      c.memoryLimit(0);
    }
  });

  it('a PROXY header that cannot be buffered fails with ERR_OUT_OF_MEMORY too', () => {
    const pages = c.memory.buffer.byteLength >> 16;
    // No room at all beyond the reserve.
    c.memoryLimit(pages + S.MEMORY_HEADROOM_PAGES - 1);
    const conn = openWith({ protocol: 'eof', proxy_protocol: true });
    try {
      c.feed(conn, own('PROXY TCP4 1.2.3.4 '));
      expect(c.error).toBe(S.ERR_OUT_OF_MEMORY);
    } finally {
      c.close(conn);
      c.memoryLimit(0);
    }
  });
});
