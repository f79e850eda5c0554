// eof framing (open_eof_split): a frame ends with the package_eof delimiter,
// 1 to 8 bytes. Every byte of a chunk is read, so an eof chunk is copied
// whole (framing.ts `connOpen`; when a test caps the copy, `eofStep` asks for
// the rest of the chunk). What is kept across chunks: the frame's last
// delimiter-length-1 bytes (C_TAIL), for a delimiter split between two
// chunks; the frame's own bytes stay with the host.
//
// Two ways in: `eofWhole`, the common case in locals (no frame began in an
// earlier chunk), which `feed` takes before setting up the general loop; and
// `eofStep`, one frame at a time from the loop in framing.ts `run`.
import { ERR_FRAME_TOO_LARGE, REASON_EOF_TOO_LARGE } from './status';
import { inputPtr, putTriple, findPattern, findPattern2, findStraddle } from './memory';
import { C_EOF, C_EOF_LEN, C_MAX, C_TLEN, C_TAIL, MORE, get, put, fail } from './record';
import { chunkLen, frameStart, windowHi, reach, ask, stop, finish, resume } from './windows';

/** Appends [p, p+k) to the eof tail, which keeps the frame's last len-1 bytes. */
function keepTail(c: usize, p: usize, k: i32, len: i32): void {
  const keep = len - 1;
  const t = c + C_TAIL;
  if (k >= keep) {
    memory.copy(t, p + <usize>(k - keep), <usize>keep);
    put(c, C_TLEN, keep);
    return;
  }
  let tl = get(c, C_TLEN);
  const drop = tl + k - keep;
  if (drop > 0) {
    memory.copy(t, t + <usize>drop, <usize>(tl - drop));
    tl -= drop;
  }
  memory.copy(t + <usize>tl, p, <usize>k);
  put(c, C_TLEN, tl + k);
}

/** The frame at frameStart: its length, MORE, NEED (the whole chunk is wanted) or FAIL. */
export function eofStep(c: usize): i32 {
  const n = chunkLen;
  const fs = frameStart;
  const s = fs > 0 ? fs : 0;
  if (!reach(s) || windowHi < n) return ask(s, n - s, 0); // eof reads every byte
  const input = inputPtr();
  const pat = load<u64>(c + C_EOF);
  const len = get(c, C_EOF_LEN);
  const max = get(c, C_MAX);
  if (fs >= 0) {
    const p = input + <usize>fs;
    const rest = n - fs;
    const lim = rest < max ? rest : max;
    const q = findPattern(p, p + <usize>lim, pat, len);
    if (q) return <i32>(q - p) + len;
    // the offending byte is the first past the limit (it may not have arrived yet)
    if (rest >= max) return fail(c, ERR_FRAME_TOO_LARGE, REASON_EOF_TOO_LARGE, fs + max, n);
    put(c, C_TLEN, 0);
    keepTail(c, p, rest, len);
    return MORE;
  }
  const have = -fs;
  let e = findStraddle(c + C_TAIL, get(c, C_TLEN), 0, input, n, pat, len);
  if (e < 0) {
    const room = max - have;
    const lim = n < room ? n : room > 0 ? room : 0;
    const q = findPattern(input, input + <usize>lim, pat, len);
    if (q) e = <i32>(q - input) + len;
  }
  if (e < 0) {
    if (<i64>have + <i64>n >= <i64>max) return fail(c, ERR_FRAME_TOO_LARGE, REASON_EOF_TOO_LARGE, max - have, n);
    keepTail(c, input, n, len);
    return MORE;
  }
  if (have + e > max) return fail(c, ERR_FRAME_TOO_LARGE, REASON_EOF_TOO_LARGE, max - have, n);
  return have + e;
}

/**
 * The common eof case, in locals: no frame began earlier and the whole chunk
 * is here; frames from chunk offset fs on. Returns as `feed` does.
 */
// @ts-expect-error: decorator
@inline
export function eofWhole(c: usize, n: i32, fs: i32, out: usize, count: i32): i32 {
  const input = inputPtr();
  const pat = load<u64>(c + C_EOF);
  const len = get(c, C_EOF_LEN);
  const max = get(c, C_MAX);
  while (fs < n) {
    const p = input + <usize>fs;
    const rest = n - fs;
    const e = p + <usize>(rest < max ? rest : max);
    const q = len == 2 ? findPattern2(p, e, pat) : findPattern(p, e, pat, len);
    if (!q) {
      // the chunk ends inside a frame (no frame began earlier, so C_HAVE is 0 until now)
      resume(n, fs, out, count);
      if (rest >= max) {
        fail(c, ERR_FRAME_TOO_LARGE, REASON_EOF_TOO_LARGE, fs + max, n);
        return stop(c, n, 0, ERR_FRAME_TOO_LARGE);
      }
      put(c, C_TLEN, 0);
      keepTail(c, p, rest, len);
      return finish(c, true);
    }
    const r = <i32>(q - p) + len;
    out = putTriple(out, fs, r, 0);
    count++;
    fs += r;
  }
  return count; // clean: C_HAVE was and stays 0
}
