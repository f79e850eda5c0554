// A straightforward pure-JS framer: the baseline the WASM core is measured
// against. Same frames as the core for raw, eof, length and Content-Length
// http; chunked request bodies are refused (the bench does not need them).
//
// Leftovers are carried between chunks: an unfinished frame whose total length
// is not yet known (no delimiter / short header) is kept and concatenated with
// the next chunk; one whose total is known (length header read, or HTTP head
// parsed) is copied into a buffer of exactly that size, so a large frame costs
// one copy and stays linear.
//
//   const f = new JsFramer({ protocol: 'eof', eof: '\r\n' });
//   const n = f.feed(chunk);           // frames in f.out[0..n), each a Buffer
//   if (f.error) ...                   // 1 too large, 2 bad length, 3 bad http
//
// With `boundsOnly`, frames are not materialized: f.bounds holds (offset,
// length) pairs into f.base (the chunk, or the chunk joined to the leftover;
// a frame completed in the pending buffer has offset -1). With `fastBuffer`,
// frame views are made with Node's FastBuffer constructor (Buffer[Symbol.species])
// instead of subarray, which skips subarray's species lookup.

export const ERR_FRAME_TOO_LARGE = 1;
export const ERR_BAD_LENGTH = 2;
export const ERR_BAD_HTTP = 3;

const RAW = 0,
  EOF = 1,
  LENGTH = 2,
  HTTP = 3;
const PROTOCOLS = { raw: RAW, eof: EOF, length: LENGTH, http: HTTP };
const FIELD_SIZE = { c: 1, C: 1, s: 2, S: 2, n: 2, v: 2, l: 4, L: 4, N: 4, V: 4 };
const CRLFCRLF = Buffer.from('\r\n\r\n');
const FastBuffer = Buffer[Symbol.species];
const CONTENT_LENGTH = Buffer.from('content-length');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding');

/** Reads a length field with a pack code (s, l, L: little-endian, as the core). */
function readLength(b, p, type) {
  switch (type) {
    case 0x4e:
      return b.readUInt32BE(p); // N
    case 0x6e:
      return b.readUInt16BE(p); // n
    case 0x56:
    case 0x4c:
      return b.readUInt32LE(p); // V L
    case 0x76:
    case 0x53:
      return b.readUInt16LE(p); // v S
    case 0x6c:
      return b.readInt32LE(p); // l
    case 0x73:
      return b.readInt16LE(p); // s
    case 0x63:
      return b.readInt8(p); // c
    default:
      return b[p]; // C
  }
}

/** Does b[p..] start with the lowercase ASCII `lit`, case-insensitively? */
function eqLower(b, p, lit) {
  for (let j = 0; j < lit.length; j++) {
    const c = b[p + j];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lit[j]) return false;
  }
  return true;
}

/**
 * Content-Length of the head [p, end) (which ends in CRLF CRLF): 0 when
 * absent, -1 when malformed, -2 for Transfer-Encoding (unsupported here).
 */
export function contentLength(b, p, end) {
  let len = 0;
  let i = p;
  const last = end - 2; // the final CRLF
  for (;;) {
    while (b[i] !== 0x0a) i++;
    i++;
    if (i >= last) return len;
    const c = b[i] | 0x20;
    if (c === 0x63 && b[i + 14] === 0x3a && eqLower(b, i, CONTENT_LENGTH)) {
      let k = i + 15;
      while (b[k] === 0x20 || b[k] === 0x09) k++;
      let x = 0,
        digits = 0;
      for (;;) {
        const d = b[k] - 0x30;
        if (d < 0 || d > 9) break;
        x = x * 10 + d;
        digits++;
        k++;
      }
      while (b[k] === 0x20 || b[k] === 0x09) k++;
      if (digits === 0 || b[k] !== 0x0d) return -1;
      len = x;
      i = k;
    } else if (c === 0x74 && b[i + 17] === 0x3a && eqLower(b, i, TRANSFER_ENCODING)) {
      return -2;
    }
  }
}

export class JsFramer {
  /** Frames of the last feed. */
  out = [];
  /** boundsOnly: (offset, length) pairs of the last feed, into `base`. */
  bounds = new Int32Array(2 * 1024);
  base = null;
  error = 0;

  #proto;
  #delim;
  #ltype;
  #loff;
  #boff;
  #hsize;
  #max;
  #boundsOnly;
  #fast;
  #ab = null; // fastBuffer: base's ArrayBuffer and offset in it
  #abOff = 0;
  // an unfinished frame of unknown length, and where its search resumes
  #left = null;
  #scan = 0;
  // an unfinished frame of known length
  #pend = null;
  #filled = 0;

  constructor(
    { protocol = 'raw', eof = '\r\n', lengthType = 'N', lengthOffset = 0, bodyOffset = 4, maxLength = 2 * 1024 * 1024 } = {},
    boundsOnly = false,
    fastBuffer = false,
  ) {
    this.#proto = PROTOCOLS[protocol];
    if (this.#proto === undefined) throw new Error(`js-framer: unknown protocol ${protocol}`);
    this.#delim = Buffer.from(eof, 'latin1');
    this.#ltype = lengthType.charCodeAt(0);
    this.#loff = lengthOffset;
    this.#boff = bodyOffset;
    this.#hsize = lengthOffset + FIELD_SIZE[lengthType];
    this.#max = maxLength;
    this.#boundsOnly = boundsOnly;
    this.#fast = fastBuffer;
  }

  /** Frames one chunk; returns the number of frames. */
  feed(chunk) {
    if (this.error !== 0) return 0;
    switch (this.#proto) {
      case EOF:
        return this.#feedEof(chunk);
      case LENGTH:
        return this.#feedLength(chunk);
      case HTTP:
        return this.#feedHttp(chunk);
      default:
        if (chunk.length === 0) return 0;
        this.base = chunk;
        if (this.#boundsOnly) {
          this.bounds[0] = 0;
          this.bounds[1] = chunk.length;
        } else this.out[0] = chunk;
        return 1;
    }
  }

  #emit(count, buf, start, len) {
    if (this.#boundsOnly) {
      if (this.bounds.length < 2 * count + 2) {
        const b = new Int32Array(this.bounds.length * 2);
        b.set(this.bounds);
        this.bounds = b;
      }
      this.bounds[2 * count] = start;
      this.bounds[2 * count + 1] = len;
    } else if (start < 0) {
      this.out[count] = buf;
    } else if (this.#fast) {
      if (this.#ab === null) {
        this.#ab = buf.buffer;
        this.#abOff = buf.byteOffset;
      }
      this.out[count] = new FastBuffer(this.#ab, this.#abOff + start, len);
    } else {
      this.out[count] = buf.subarray(start, start + len);
    }
  }

  #fail(code) {
    this.error = code;
    this.#left = null;
    this.#pend = null;
  }

  /** Joins the leftover (if any) with the chunk. */
  #join(chunk) {
    const left = this.#left;
    if (left === null) return chunk;
    this.#left = null;
    return Buffer.concat([left, chunk], left.length + chunk.length);
  }

  /** Continues the known-length frame; returns bytes of the chunk used, or -1 if more are needed. */
  #fill(chunk) {
    const pend = this.#pend;
    const want = pend.length - this.#filled;
    if (chunk.length < want) {
      chunk.copy(pend, this.#filled);
      this.#filled += chunk.length;
      return -1;
    }
    chunk.copy(pend, this.#filled, 0, want);
    this.#pend = null;
    return want;
  }

  /** Starts a known-length frame from buf[pos..] (all of it, fewer than `total` bytes). */
  #start(buf, pos, total) {
    const pend = Buffer.allocUnsafe(total);
    buf.copy(pend, 0, pos);
    this.#pend = pend;
    this.#filled = buf.length - pos;
  }

  #feedEof(chunk) {
    const hadLeft = this.#left !== null;
    let from = hadLeft ? this.#scan : 0;
    const buf = this.#join(chunk);
    this.base = buf;
    this.#ab = null;
    const d = this.#delim,
      dl = d.length,
      max = this.#max,
      n = buf.length;
    let pos = 0,
      count = 0;
    for (;;) {
      const q = buf.indexOf(d, from);
      if (q < 0) break;
      const end = q + dl;
      if (end - pos > max) {
        this.#fail(ERR_FRAME_TOO_LARGE);
        return count;
      }
      this.#emit(count++, buf, pos, end - pos);
      pos = from = end;
    }
    if (pos < n) {
      if (n - pos >= max) {
        this.#fail(ERR_FRAME_TOO_LARGE);
        return count;
      }
      this.#left = pos === 0 ? buf : buf.subarray(pos);
      this.#scan = Math.max(n - pos - dl + 1, 0);
    }
    return count;
  }

  #feedLength(chunk) {
    let buf = chunk,
      pos = 0,
      count = 0;
    if (this.#pend !== null) {
      const pend = this.#pend;
      const used = this.#fill(chunk);
      if (used < 0) return 0;
      this.#emit(count++, pend, -1, pend.length);
      pos = used;
    } else {
      buf = this.#join(chunk);
    }
    this.base = buf;
    this.#ab = null;
    const n = buf.length,
      hsize = this.#hsize,
      ltype = this.#ltype,
      loff = this.#loff,
      boff = this.#boff;
    const max = this.#max;
    while (n - pos >= hsize) {
      const len = readLength(buf, pos + loff, ltype);
      const total = boff + len;
      if (len < 0 || total < hsize) {
        this.#fail(ERR_BAD_LENGTH);
        return count;
      }
      if (total > max) {
        this.#fail(ERR_FRAME_TOO_LARGE);
        return count;
      }
      if (n - pos < total) {
        this.#start(buf, pos, total);
        return count;
      }
      this.#emit(count++, buf, pos, total);
      pos += total;
    }
    if (pos < n) this.#left = buf.subarray(pos);
    return count;
  }

  #feedHttp(chunk) {
    let buf = chunk,
      pos = 0,
      count = 0,
      from = 0;
    if (this.#pend !== null) {
      const pend = this.#pend;
      const used = this.#fill(chunk);
      if (used < 0) return 0;
      this.#emit(count++, pend, -1, pend.length);
      pos = from = used;
    } else {
      if (this.#left !== null) from = this.#scan;
      buf = this.#join(chunk);
    }
    this.base = buf;
    this.#ab = null;
    const n = buf.length,
      max = this.#max;
    while (pos < n) {
      const q = buf.indexOf(CRLFCRLF, from);
      if (q < 0) {
        if (n - pos >= max) {
          this.#fail(ERR_FRAME_TOO_LARGE);
          return count;
        }
        this.#left = pos === 0 ? buf : buf.subarray(pos);
        this.#scan = Math.max(n - pos - 3, 0);
        return count;
      }
      const headEnd = q + 4;
      if (headEnd - pos > max) {
        this.#fail(ERR_FRAME_TOO_LARGE);
        return count;
      }
      const cl = contentLength(buf, pos, headEnd);
      if (cl === -2) throw new Error('js-framer: chunked request bodies are not supported');
      if (cl < 0) {
        this.#fail(ERR_BAD_HTTP);
        return count;
      }
      const total = headEnd - pos + cl;
      if (total > max) {
        this.#fail(ERR_FRAME_TOO_LARGE);
        return count;
      }
      if (n - pos < total) {
        this.#start(buf, pos, total);
        return count;
      }
      this.#emit(count++, buf, pos, total);
      pos = from = pos + total;
    }
    return count;
  }
}
