// One class per kind of failure. Callers test `err.code`, never the message.
import * as S from '../assembly/status.js';

/** A system error from node (EADDRINUSE, EMFILE, ...): it has a `code` too. */
export interface SystemError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
}

/** What the `error` callback gets: `err.code` is always a string. */
export type ServerError = TcpPreforkError | SystemError;

export class TcpPreforkError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Bad input from a peer, found by the framing core: beyond its code it says
 * why (`reason`, as text, and `reasonId`, S.REASON_*) and where (`offset`:
 * the offending byte's position in the connection's input, the first byte
 * the peer sent being 0; the host adds the bytes before the chunk to the
 * core's chunk offset).
 */
export class FramingError extends TcpPreforkError {
  /** Why, in a few words (e.g. "invalid character in chunk size"); empty when the core did not say. */
  readonly reason: string;
  /** S.REASON_* (0: none); `httpStatusFor(reasonId)` gives the HTTP status to answer with. */
  readonly reasonId: number;
  /** The offending byte's offset in the connection's input. */
  readonly offset: number;
  constructor(code: string, message: string, reasonId: number, offset: number) {
    const reason = REASONS[reasonId];
    // "malformed HTTP request: LF without CR (at byte 14)"
    super(code, reason === undefined ? message : `${message}: ${reason} (at byte ${offset})`);
    this.reason = reason ?? '';
    this.reasonId = reasonId;
    this.offset = offset;
  }
}

/** A peer sent a frame above `package_max_length`, or no delimiter within it. */
export class FrameTooLargeError extends FramingError {
  constructor(message = 'frame exceeds package_max_length', reasonId = 0, offset = 0) {
    super('ERR_FRAME_TOO_LARGE', message, reasonId, offset);
  }
}

/** A length header was negative, smaller than the header, or unreadable. */
export class BadLengthError extends FramingError {
  constructor(message = 'bad length field in frame header', reasonId = 0, offset = 0) {
    super('ERR_BAD_LENGTH', message, reasonId, offset);
  }
}

/** An HTTP request head or body framing was malformed. */
export class BadHttpError extends FramingError {
  constructor(message = 'malformed HTTP request', reasonId = 0, offset = 0) {
    super('ERR_BAD_HTTP', message, reasonId, offset);
  }
}

/** A PROXY protocol header was missing or malformed. */
export class BadProxyHeaderError extends FramingError {
  constructor(message = 'missing or malformed PROXY protocol header', reasonId = 0, offset = 0) {
    super('ERR_BAD_PROXY_HEADER', message, reasonId, offset);
  }
}

/** The core could not get memory for this connection's unfinished input; the worker goes on. */
export class OutOfMemoryError extends FramingError {
  constructor(message = "the core's linear memory cannot grow for this connection's input", reasonId = 0, offset = 0) {
    super('ERR_OUT_OF_MEMORY', message, reasonId, offset);
  }
}

/** The worker held more unfinished input than input_buffer_limit; this connection held the most. */
export class InputLimitError extends TcpPreforkError {
  /** Bytes this connection held when it was closed. */
  readonly held: number;
  constructor(held: number, limit: number) {
    super(
      'ERR_INPUT_LIMIT',
      `the worker's unfinished input passed input_buffer_limit (${limit} bytes); this connection held the most (${held} bytes)`,
    );
    this.held = held;
  }
}

/** A known setting was given a value outside its schema. */
export class InvalidSettingError extends TcpPreforkError {
  readonly key: string;
  readonly allowed: string;
  constructor(key: string, allowed: string, ...value: [unknown?]) {
    super(
      'ERR_INVALID_SETTING',
      `invalid value for setting "${key}": expected ${allowed}` + (value.length > 0 ? `, got ${describe(value[0])}` : ''),
    );
    this.key = key;
    this.allowed = allowed;
  }
}

/** `bind`/`on` was given an event name the server does not emit. */
export class UnknownEventError extends TcpPreforkError {
  constructor(event: string, known: readonly string[]) {
    super('ERR_UNKNOWN_EVENT', `unknown event "${event}"; events are ${known.join(', ')}`);
  }
}

/** `set` was called after `run()`. */
export class ServerRunningError extends TcpPreforkError {
  constructor(message = 'settings cannot change after run()') {
    super('ERR_SERVER_RUNNING', message);
  }
}

/** `send`/`close` was called with no connection to address. */
export class NoConnectionError extends TcpPreforkError {
  constructor(message: string) {
    super('ERR_NO_CONNECTION', message);
  }
}

/**
 * A connection timed out: its TLS handshake or PROXY header did not complete
 * within handshake_timeout (ERR_HANDSHAKE_TIMEOUT), or a message stayed
 * unfinished for package_timeout (ERR_PACKAGE_TIMEOUT).
 */
export class TimeoutError extends TcpPreforkError {
  readonly seconds: number;
  constructor(kind: 'handshake' | 'package', seconds: number) {
    super(
      kind === 'handshake' ? 'ERR_HANDSHAKE_TIMEOUT' : 'ERR_PACKAGE_TIMEOUT',
      kind === 'handshake'
        ? `the TLS handshake or PROXY header did not complete within handshake_timeout (${seconds} s)`
        : `a message stayed unfinished for package_timeout (${seconds} s)`,
    );
    this.seconds = seconds;
  }
}

/** A TLS handshake failed (plain bytes on a TLS port, a bad ClientHello, no shared cipher). */
export class TlsError extends TcpPreforkError {
  constructor(cause: Error) {
    super('ERR_TLS_HANDSHAKE', `TLS handshake failed: ${cause.message}`);
    this.cause = cause;
  }
}

/** A connection was refused because `max_conn` was reached. */
export class MaxConnError extends TcpPreforkError {
  constructor(message = 'max_conn reached; connection refused') {
    super('ERR_MAX_CONN', message);
  }
}

/** A message for another process (a cross-worker send, a broadcast, sendMessage) exceeds package_max_length. */
export class MessageTooLargeError extends TcpPreforkError {
  constructor(bytes: number, max: number) {
    super(
      'ERR_MESSAGE_TOO_LARGE',
      `a message of ${bytes} bytes cannot cross to another process: the bound is package_max_length (${max})`,
    );
  }
}

/** A worker exited unexpectedly. */
export class WorkerExitError extends TcpPreforkError {
  readonly workerId: number;
  readonly pid: number;
  readonly exitCode: number | null;
  readonly signal: string | null;
  constructor(workerId: number, pid: number, exitCode: number | null, signal: string | null) {
    super('ERR_WORKER_EXIT', `worker ${workerId} (pid ${pid}) exited unexpectedly with code ${exitCode} and signal ${signal}`);
    this.workerId = workerId;
    this.pid = pid;
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/** A user callback threw, or the promise it returned rejected; the connection it served was closed. */
export class CallbackError extends TcpPreforkError {
  readonly event: string;
  constructor(event: string, cause: unknown, rejected = false) {
    super(
      'ERR_CALLBACK',
      `the ${event} callback ${rejected ? 'rejected' : 'threw'}: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.event = event;
    (this as { cause?: unknown }).cause = cause;
  }
}

/**
 * A bug, never bad input: the core aborted (AssemblyScript's `abort`, with
 * what it said and where), or its answer broke an invariant the host checks.
 * It costs the worker, which the master replaces.
 */
export class CoreAbort extends TcpPreforkError {
  /** What the core said (e.g. "Allocation too large"), or which invariant broke. */
  readonly reason: string;
  /** Where the abort is in the AssemblyScript sources (e.g. "~lib/rt/tlsf.ts", 461, 29); "" and 0 for a host check. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(reason: string, file = '', line = 0, column = 0) {
    super(
      'ERR_CORE_ABORT',
      line > 0
        ? `tcp-prefork core aborted: ${reason || '(no message)'} at ${file || '?'}:${line}:${column}`
        : `tcp-prefork core: ${reason}`,
    );
    this.reason = reason;
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/** What each S.REASON_* means, as the error's `reason`. */
export const REASONS: Readonly<Record<number, string>> = {
  [S.REASON_HEAD_TOO_LARGE]: 'request head exceeds package_max_length',
  [S.REASON_BODY_TOO_LARGE]: 'request body exceeds package_max_length',
  [S.REASON_BAD_METHOD]: 'invalid method',
  [S.REASON_BAD_TARGET]: 'invalid request target',
  [S.REASON_BAD_VERSION]: 'invalid HTTP version',
  [S.REASON_BARE_LF]: 'LF without CR',
  [S.REASON_BARE_CR]: 'CR not followed by LF',
  [S.REASON_BAD_HEADER_NAME]: 'invalid character in header name',
  [S.REASON_BAD_HEADER_VALUE]: 'invalid character in header value',
  [S.REASON_OBS_FOLD]: 'obsolete line folding in header',
  [S.REASON_BAD_CONTENT_LENGTH]: 'invalid Content-Length',
  [S.REASON_DUPLICATE_CONTENT_LENGTH]: 'duplicate Content-Length',
  [S.REASON_TE_AND_CL]: 'both Transfer-Encoding and Content-Length',
  [S.REASON_BAD_TRANSFER_ENCODING]: 'invalid Transfer-Encoding (chunked must be the last coding)',
  [S.REASON_TE_IN_HTTP10]: 'Transfer-Encoding in an HTTP/1.0 request',
  [S.REASON_INVALID_CHUNK_SIZE]: 'invalid character in chunk size',
  [S.REASON_INVALID_CHUNK_EXT]: 'invalid character in chunk extension',
  [S.REASON_BAD_CHUNK_END]: 'missing CRLF after chunk data',
  [S.REASON_BAD_TRAILER]: 'invalid character in trailer field',
  [S.REASON_FORBIDDEN_TRAILER]: 'framing or connection field in trailers',
  [S.REASON_EOF_TOO_LARGE]: 'no package_eof delimiter within package_max_length',
  [S.REASON_LENGTH_NEGATIVE]: 'negative length field',
  [S.REASON_LENGTH_TOO_SMALL]: 'length field smaller than the header',
  [S.REASON_LENGTH_TOO_LARGE]: 'length field announces more than package_max_length',
  [S.REASON_BAD_PROXY_HEADER]: 'malformed PROXY protocol header',
  [S.REASON_OUT_OF_MEMORY]: "no linear memory left in the core for this connection's buffer",
};

/**
 * The HTTP status to answer a framing error with: 431 for a head over
 * package_max_length, 413 for a body over it, 503 when the core had no memory
 * for the head, 400 for anything else.
 */
export function httpStatusFor(reasonId: number): 400 | 413 | 431 | 503 {
  if (reasonId === S.REASON_HEAD_TOO_LARGE) return 431;
  if (reasonId === S.REASON_BODY_TOO_LARGE) return 413;
  if (reasonId === S.REASON_OUT_OF_MEMORY) return 503;
  return 400;
}

const STATUS_TEXT = {
  400: 'Bad Request',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/** The reply to a request the framer refused, as node:http and nginx send one: the status, then the connection closes. */
export function httpErrorReply(reasonId: number): string {
  const status = httpStatusFor(reasonId);
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
}

/**
 * Maps a framing status from the core to its error, with the core's reason
 * (S.REASON_*) and the offending byte's offset (`core.reason()`, `core.errorAt()`).
 */
export function framingError(status: number, reasonId = 0, offset = 0): FramingError {
  switch (status) {
    case S.ERR_FRAME_TOO_LARGE:
      return new FrameTooLargeError(undefined, reasonId, offset);
    case S.ERR_BAD_LENGTH:
      return new BadLengthError(undefined, reasonId, offset);
    case S.ERR_BAD_HTTP:
      return new BadHttpError(undefined, reasonId, offset);
    case S.ERR_BAD_PROXY_HEADER:
      return new BadProxyHeaderError(undefined, reasonId, offset);
    case S.ERR_OUT_OF_MEMORY:
      return new OutOfMemoryError(undefined, reasonId, offset);
    default:
      return new FramingError('ERR_CORE', `unexpected core status ${status}`, reasonId, offset);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return typeof value;
}
