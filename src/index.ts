// tcp-prefork: a prefork TCP server with a WebAssembly framing core.
export { Server } from './server.js';
export type { ServerStats } from './stats.js';
export type { Remote, Handlers, EventName, StartInfo, WorkerInfo, WorkerExitInfo, Returns } from './events.js';
export { EVENTS } from './events.js';
export type { WorkerStats } from './ipc.js';
export type { SettingValue, KnownSettings, PackCode } from './settings.js';
export type { Target } from './connections.js';
export type { BroadcastFilter } from './messaging.js';
export type { ServerError, SystemError } from './errors.js';
export {
  TcpPreforkError,
  FrameTooLargeError,
  BadLengthError,
  BadHttpError,
  BadProxyHeaderError,
  InvalidSettingError,
  UnknownEventError,
  ServerRunningError,
  NoConnectionError,
  MaxConnError,
  WorkerExitError,
  CallbackError,
  MessageTooLargeError,
  FramingError,
  httpStatusFor,
  REASONS,
  OutOfMemoryError,
  InputLimitError,
} from './errors.js';
