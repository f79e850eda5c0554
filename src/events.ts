// The events a server emits, and where each one fires.
import { CallbackError, UnknownEventError, type ServerError } from './errors.js';

/** A connected peer. `id` is unique across the whole server: worker index, worker pid, connection number. */
export interface Remote {
  ip: string;
  port: number;
  id: string;
  /** http protocol only: whether the request being delivered lets the connection stay open. */
  keepAlive?: boolean;
  /** http protocol only: true for the raw bytes that follow a request that upgraded the connection (WebSocket, CONNECT). */
  upgraded?: boolean;
  /** With proxy_protocol: the load balancer's address; ip/port are then the real client's. */
  via?: { ip: string; port: number };
}

export interface StartInfo {
  address: string;
  port: number;
  workers: number[];
}
export interface WorkerInfo {
  workerId: number;
  pid: number;
}
export interface WorkerExitInfo {
  workerId: number;
  pid: number;
  code: number | null;
  signal: string | null;
}

/** What a callback returns: nothing, or a promise the server tracks (see README, "Async callbacks"). */
export type Returns = void | Promise<void>;

export interface Handlers {
  accept?: (remote: Remote) => Returns;
  receive?: (message: Buffer, remote: Remote) => Returns;
  close?: (remote: Remote) => Returns;
  bufferFull?: (remote: Remote) => Returns;
  bufferDrain?: (remote: Remote) => Returns;
  start?: (info: StartInfo) => Returns;
  shutdown?: () => Returns;
  workerStart?: (info: WorkerInfo) => Returns;
  workerStop?: (info: WorkerInfo) => Returns;
  workerExit?: (info: WorkerExitInfo) => Returns;
  /**
   * reload_handover, in the old worker: this connection moves to the new
   * worker; what this returns (JSON-able, or a promise of it) reaches adopt.
   */
  handover?: (remote: Remote) => unknown;
  /** reload_handover, in the new worker: a connection taken over, with what handover returned. Instead of accept. */
  adopt?: (remote: Remote, value: unknown) => Returns;
  /** A message from another worker (its id), or from the master (-1): see Server.sendMessage. */
  message?: (data: unknown, from: number) => Returns;
  error?: (err: ServerError, remote?: Remote) => Returns;
}

export type EventName = keyof Handlers;

export const EVENTS: readonly EventName[] = [
  'accept',
  'receive',
  'close',
  'bufferFull',
  'bufferDrain',
  'start',
  'shutdown',
  'workerStart',
  'workerStop',
  'workerExit',
  'handover',
  'adopt',
  'message',
  'error',
];

export function checkEvent(event: string, callback: unknown): asserts event is EventName {
  if (!(EVENTS as readonly string[]).includes(event)) throw new UnknownEventError(event, EVENTS);
  if (typeof callback !== 'function') throw new TypeError(`the ${event} callback must be a function`);
}

/** A promise, or anything with a `then` method. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

function toStderr(err: unknown): void {
  const e = err as { code?: string; message?: string };
  const code = e?.code;
  process.stderr.write(`tcp-prefork[${process.pid}]: ${code ? code + ': ' : ''}${e?.message ?? String(err)}\n`);
}

/** Reports an error to the `error` callback, or to stderr when none is bound. Never throws. */
export function report(handlers: Handlers, err: Error, remote?: Remote): void {
  if (handlers.error) {
    // Every error the server reports has a code; one that somehow lacks it says so.
    if (typeof (err as { code?: unknown }).code !== 'string') Object.assign(err, { code: 'ERR_UNKNOWN' });
    try {
      const r = handlers.error(err as ServerError, remote);
      if (isThenable(r)) r.then(undefined, toStderr);
      return;
    } catch (e) {
      err = e as Error;
    }
  }
  toStderr(err);
}

/**
 * Runs a callback that has no connection (start, shutdown, workerStart, ...):
 * a throw or a rejection is reported as ERR_CALLBACK. Returns its promise,
 * if it returned one, settled either way, for callers that wait for it.
 */
export function invoke<A extends unknown[]>(
  handlers: Handlers,
  event: string,
  fn: ((...args: A) => Returns) | undefined,
  ...args: A
): Promise<void> | undefined {
  if (!fn) return undefined;
  try {
    const r = fn(...args);
    if (isThenable(r)) {
      return Promise.resolve(r).then(
        () => undefined,
        (err) => report(handlers, new CallbackError(event, err, true)),
      );
    }
  } catch (err) {
    report(handlers, new CallbackError(event, err));
  }
  return undefined;
}

/** Runs `fn` once `p` has settled, or after `ms` if it takes longer; at once when there is no promise. */
export function afterward(p: Promise<void> | undefined, ms: number, fn: () => void): void {
  if (!p) {
    fn();
    return;
  }
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    fn();
  };
  const timer = setTimeout(once, ms);
  p.then(once);
}
