// The events a server emits, and where each one fires.
import { UnknownEventError, type TcpPreforkError } from './errors.js';

/** A connected peer. `id` is unique across the whole server: worker index, worker pid, connection number. */
export interface Remote {
  ip: string;
  port: number;
  id: string;
  /** http protocol only: whether the request being delivered lets the connection stay open. */
  keepAlive?: boolean;
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

export interface Handlers {
  accept?: (remote: Remote) => void;
  receive?: (message: Buffer, remote: Remote) => void;
  close?: (remote: Remote) => void;
  bufferFull?: (remote: Remote) => void;
  bufferDrain?: (remote: Remote) => void;
  start?: (info: StartInfo) => void;
  shutdown?: () => void;
  workerStart?: (info: WorkerInfo) => void;
  workerStop?: (info: WorkerInfo) => void;
  workerExit?: (info: WorkerExitInfo) => void;
  error?: (err: TcpPreforkError | Error, remote?: Remote) => void;
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
  'error',
];

export function checkEvent(event: string, callback: unknown): asserts event is EventName {
  if (!(EVENTS as readonly string[]).includes(event)) throw new UnknownEventError(event, EVENTS);
  if (typeof callback !== 'function') throw new TypeError(`the ${event} callback must be a function`);
}

/** Reports an error to the `error` callback, or to stderr when none is bound. Never throws. */
export function report(handlers: Handlers, err: Error, remote?: Remote): void {
  if (handlers.error) {
    try {
      handlers.error(err, remote);
      return;
    } catch (e) {
      err = e as Error;
    }
  }
  const code = (err as { code?: string }).code;
  process.stderr.write(`tcp-prefork[${process.pid}]: ${code ? code + ': ' : ''}${err.message}\n`);
}
