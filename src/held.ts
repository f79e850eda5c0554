// The bytes of one connection's unfinished frame, kept by the host between
// chunks (the core only finds boundaries; see core.ts). What they cost is
// bounded by what they are, whatever the chunking. A socket read that only
// continues the frame is kept as it is (it is all frame). The first piece of a
// frame, at the end of a read that held whole frames before it, is kept in
// its read when it is at least FIRST_MIN bytes: that pins at most one read
// (64 KiB) per connection, and saves a copy on every read of a stream of big
// frames. Everything smaller (a trickle of 1-byte reads, a few bytes at the
// end of a read) is copied into a tail buffer that grows by doubling. So a
// connection's unfinished frame costs at most about twice its bytes, plus one
// read; `cost` says what it pins, and that is what input_buffer_limit counts.
// (Keeping every read as its own Buffer cost hundreds of times the bytes for
// 1-byte reads.)

/** A later piece smaller than this is copied; below it a Buffer's own overhead dominates. */
const KEEP_MIN = 4096;
/** The first piece is kept in its read from this size on, if the read is no bigger than READ_MAX. */
const FIRST_MIN = 1024;
const READ_MAX = 65536;
/** The tail's first and last capacity. */
const TAIL_MIN = 256;
const TAIL_MAX = 65536;

/** The next power of two >= n (n >= 1). */
function pow2(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

export class Held {
  /** Pieces in order, the first from `start`; then `tail[0, tailLen)`. Made on first use: a record per connection slot is kept for reuse. */
  parts: (Uint8Array | null)[] | null = null;
  n = 0;
  start = 0;
  tail: Uint8Array | null = null;
  tailLen = 0;
  /** Bytes of the unfinished frame. */
  bytes = 0;
  /** Bytes of memory they pin (whole reads kept, the tail's capacity). */
  cost = 0;
  /** The connection using this record (0: free). */
  conn = 0;

  /** Keeps chunk[from, end). Returns the memory that pins, in bytes. */
  add(chunk: Uint8Array, from: number): number {
    const len = chunk.length - from;
    if (len <= 0) return 0;
    this.bytes += len;
    const pinned = chunk.buffer.byteLength;
    const first = this.n === 0 && this.tail === null;
    if (first ? len >= FIRST_MIN && pinned <= READ_MAX : len >= KEEP_MIN && len * 2 >= pinned) {
      this.#seal();
      // The first piece keeps its offset in `start` (no view made); a later one starts at 0.
      if (first) this.start = from;
      this.#push(first || from === 0 ? chunk : chunk.subarray(from));
      return this.#charge(pinned);
    }
    if (len > TAIL_MAX >> 1) {
      // Big, but a small part of a bigger buffer: a copy of its own.
      this.#seal();
      if (this.n === 0) this.start = 0;
      this.#push(chunk.slice(from));
      return this.#charge(len);
    }
    let t = this.tail;
    let grew = 0;
    const need = this.tailLen + len;
    if (t !== null && need > t.length) {
      if (need <= TAIL_MAX) {
        const grown = new Uint8Array(Math.min(TAIL_MAX, pow2(need)));
        grown.set(t.subarray(0, this.tailLen));
        grew = grown.length - t.length;
        t = this.tail = grown;
      } else {
        this.#seal();
        t = null;
      }
    }
    if (t === null) {
      t = this.tail = new Uint8Array(Math.max(TAIL_MIN, pow2(len)));
      this.tailLen = 0;
      grew = t.length;
    }
    t.set(from === 0 ? chunk : chunk.subarray(from), this.tailLen);
    this.tailLen += len;
    return this.#charge(grew);
  }

  #charge(bytes: number): number {
    this.cost += bytes;
    return bytes;
  }

  #push(piece: Uint8Array): void {
    (this.parts ??= [])[this.n++] = piece;
  }

  /** Moves the tail into the parts (it is full enough to pin: at least half). */
  #seal(): void {
    const t = this.tail;
    if (t === null) return;
    if (this.n === 0) this.start = 0;
    this.#push(t.subarray(0, this.tailLen));
    this.tail = null;
    this.tailLen = 0;
  }

  /** Drops every piece. Returns the memory that frees, in bytes (what `add` charged). */
  release(): number {
    const parts = this.parts;
    for (let i = 0; i < this.n; i++) parts![i] = null;
    const cost = this.cost;
    this.n = 0;
    this.start = 0;
    this.tail = null;
    this.tailLen = 0;
    this.bytes = 0;
    this.cost = 0;
    return cost;
  }

  /** The held bytes followed by the chunk's first `head` bytes, in one new Buffer. */
  join(chunk: Uint8Array, head: number): Buffer {
    const out = Buffer.allocUnsafe(this.bytes + head);
    const parts = this.parts;
    let at = 0;
    for (let i = 0; i < this.n; i++) {
      let p = parts![i]!;
      if (i === 0 && this.start !== 0) p = new Uint8Array(p.buffer, p.byteOffset + this.start, p.length - this.start);
      out.set(p, at);
      at += p.length;
    }
    if (this.tail !== null) {
      out.set(this.tail.subarray(0, this.tailLen), at);
      at += this.tailLen;
    }
    out.set(head === chunk.length ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, head), at);
    return out;
  }
}
