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

/** A peer sent a frame above `package_max_length`, or no delimiter within it. */
export class FrameTooLargeError extends TcpPreforkError {
  constructor(message = 'frame exceeds package_max_length') {
    super('ERR_FRAME_TOO_LARGE', message);
  }
}

/** A length header was negative, smaller than the header, or unreadable. */
export class BadLengthError extends TcpPreforkError {
  constructor(message = 'bad length field in frame header') {
    super('ERR_BAD_LENGTH', message);
  }
}

/** An HTTP request head or body framing was malformed. */
export class BadHttpError extends TcpPreforkError {
  constructor(message = 'malformed HTTP request') {
    super('ERR_BAD_HTTP', message);
  }
}

/** A PROXY protocol header was missing or malformed. */
export class BadProxyHeaderError extends TcpPreforkError {
  constructor(message = 'missing or malformed PROXY protocol header') {
    super('ERR_BAD_PROXY_HEADER', message);
  }
}

/** The core could not get memory for this connection's unfinished input; the worker goes on. */
export class OutOfMemoryError extends TcpPreforkError {
  constructor(message = "the core's linear memory cannot grow for this connection's input") {
    super('ERR_OUT_OF_MEMORY', message);
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

/** A connection was refused because `max_conn` was reached. */
export class MaxConnError extends TcpPreforkError {
  constructor(message = 'max_conn reached; connection refused') {
    super('ERR_MAX_CONN', message);
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

/** Maps a framing status from the core to its error. */
export function framingError(status: number): TcpPreforkError {
  switch (status) {
    case S.ERR_FRAME_TOO_LARGE:
      return new FrameTooLargeError();
    case S.ERR_BAD_LENGTH:
      return new BadLengthError();
    case S.ERR_BAD_HTTP:
      return new BadHttpError();
    case S.ERR_BAD_PROXY_HEADER:
      return new BadProxyHeaderError();
    case S.ERR_OUT_OF_MEMORY:
      return new OutOfMemoryError();
    default:
      return new TcpPreforkError('ERR_CORE', `unexpected core status ${status}`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return typeof value;
}
