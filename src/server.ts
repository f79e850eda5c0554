// The public facade: php-server's API. It knows at construction whether this
// process is the master or a worker, and hands run() to the matching role.
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidSettingError, ServerRunningError, NoConnectionError } from './errors.js';
import { checkEvent, type Handlers, type Remote } from './events.js';
import { WORKER_ENV } from './ipc.js';
import type { ServerStats } from './stats.js';
import { Log, type LogLevel } from './log.js';
import { Master } from './master.js';
import { reusePortSupported } from './dispatch/reuseport.js';
import { isKnown, Settings, type KnownSettings, type SettingValue } from './settings.js';
import { Worker } from './worker.js';
import type { Target } from './connections.js';
import type { BroadcastFilter } from './messaging.js';

/** The open-file limit of this process (the default max_conn). */
function fileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return 1024;
}

function workerIndex(): number | null {
  const v = process.env[WORKER_ENV];
  if (v === undefined || typeof process.send !== 'function') return null;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : null;
}

export class Server {
  /** True in the master process (the one that runs the pool). */
  readonly isMaster: boolean;
  /** True in a worker process. */
  readonly isWorker: boolean;
  /** The worker's index (0 .. process_number-1) in a worker; null in the master. */
  readonly workerId: number | null;
  readonly #settings = new Settings();
  readonly #handlers: Handlers = {};
  readonly #log = new Log();
  /** Unknown keys already warned about. */
  readonly #warned = new Set<string>();
  #running = false;
  #master: Master | null = null;
  #worker: Worker | null = null;

  /**
   * @param ip IPv4 or IPv6 address to listen on.
   * @param port TCP port; 0 picks a free one (see the `start` event and get('port')).
   */
  constructor(ip = '0.0.0.0', port = 9501) {
    this.workerId = workerIndex();
    this.isWorker = this.workerId !== null;
    this.isMaster = !this.isWorker;
    this.#settings.set('process_number', Math.min(1024, availableParallelism()));
    this.#settings.set('max_conn', fileLimit());
    this.set('ip', ip);
    this.set('port', port);
    // `tcp-prefork start --pid-file PATH` passes its pid file this way.
    const pidFile = process.env.TCP_PREFORK_PID_FILE;
    if (pidFile && this.isMaster) this.set('pid_file', pidFile);
  }

  /**
   * Stores a setting. Known keys are typed and validated (ERR_INVALID_SETTING);
   * a key of your own needs `{ custom: true }`, else it is kept with a warning
   * (a typo'd key would otherwise be silently ignored). Throws
   * ERR_SERVER_RUNNING after run().
   */
  set<K extends keyof KnownSettings>(key: K, value: KnownSettings[K]): this;
  set(key: string, value: SettingValue, options: { custom: true }): this;
  /** Swoole's form: several settings at once, all or none (an invalid one throws and none is kept). */
  set(settings: Partial<KnownSettings>): this;
  set(key: string | Partial<KnownSettings>, value?: unknown, options?: { custom?: boolean }): this {
    if (typeof key === 'object' && key !== null && !Array.isArray(key) && !Buffer.isBuffer(key)) {
      if (this.#running) throw new ServerRunningError('cannot set settings after run()');
      const before = this.#settings.serialize();
      try {
        for (const [k, v] of Object.entries(key)) this.set(k as keyof KnownSettings, v as never);
      } catch (err) {
        this.#settings.reset();
        this.#settings.load(before);
        throw err;
      }
      return this;
    }
    if (typeof key !== 'string') {
      throw new InvalidSettingError(String(key), 'a setting name (a string), or an object of settings');
    }
    if (this.#running) throw new ServerRunningError(`cannot set "${key}" after run()`);
    if (key === 'ip' && (typeof value !== 'string' || net.isIP(value) === 0)) {
      throw new InvalidSettingError('ip', 'an IPv4 or IPv6 address', value);
    }
    if (key === 'dispatch_mode' && value === 'reuseport' && !reusePortSupported()) {
      throw new InvalidSettingError(
        'dispatch_mode',
        `one of shared, round_robin, hybrid (reuseport needs Node 22.12 or later; this is ${process.version})`,
        value,
      );
    }
    this.#settings.set(key, value);
    if (!isKnown(key) && options?.custom !== true && !this.#warned.has(key)) {
      this.#warned.add(key);
      this.#log.error(`unknown setting "${key}" kept as given; pass { custom: true } to set() for keys of your own`);
    }
    return this;
  }

  /** One setting, or every setting (defaults included) when no key is given. */
  get(): Record<string, SettingValue>;
  get<K extends keyof KnownSettings>(key: K): KnownSettings[K];
  get(key: string): SettingValue | undefined;
  get(key?: string): SettingValue | undefined | Record<string, SettingValue> {
    return key === undefined ? this.#settings.all() : this.#settings.get(key);
  }

  /** Binds a callback to an event; binding again replaces it. Unknown events throw ERR_UNKNOWN_EVENT. */
  bind<K extends keyof Handlers>(event: K, callback: NonNullable<Handlers[K]>): this {
    checkEvent(event, callback);
    (this.#handlers as Record<string, unknown>)[event] = callback;
    return this;
  }

  /** Alias of bind. */
  on<K extends keyof Handlers>(event: K, callback: NonNullable<Handlers[K]>): this {
    return this.bind(event, callback);
  }

  /**
   * Sends to the connection whose callback is running, or to `remote` (a
   * remote or its id) on any worker: this worker's own connections directly,
   * another worker's (or, from the master, any) through the master. Returns
   * false when the connection is gone (known here), or when its reply queue is
   * full (outside its callbacks); true once handed on to another process.
   */
  send(message: string | Uint8Array, remote?: Target): boolean {
    if (this.#worker) return this.#worker.send(message, remote);
    if (remote === undefined) {
      throw new NoConnectionError(
        this.isMaster
          ? 'send() has no connection to reply to in the master; pass a remote or its id'
          : 'send() without a target must be called inside accept or receive, after run()',
      );
    }
    return this.#master?.send(message, typeof remote === 'string' ? remote : remote.id) ?? false;
  }

  /**
   * Writes `message` to every open connection of every worker (from a worker
   * or the master), but those the filter leaves out: `{ except, only }`, each
   * a remote, an id, or a list of them. A connection whose reply queue is full
   * is skipped (counted in stats as `dropped`). Throws ERR_MESSAGE_TOO_LARGE
   * past package_max_length.
   */
  broadcast(message: string | Uint8Array, filter?: BroadcastFilter): boolean {
    if (this.#worker) return this.#worker.broadcast(message, filter);
    if (this.#master) return this.#master.broadcast(message, filter);
    return false;
  }

  /**
   * A JSON-able value for the `message` callback of worker `workerId`, or of
   * the master (-1), from here (the callback gets this worker's id, or -1).
   * Returns false when there is no such worker now.
   */
  sendMessage(data: unknown, workerId: number): boolean {
    if (this.#worker) return this.#worker.sendMessage(data, workerId);
    if (this.#master) return this.#master.sendMessage(data, workerId);
    return false;
  }

  /** Closes the connection being served, or `remote`, after its replies flush. Its close callback runs once. */
  close(remote?: Target): boolean {
    if (this.#worker) return this.#worker.table.close(remote);
    if (remote === undefined) throw new NoConnectionError('close() without a target must be called inside a callback');
    return false;
  }

  /**
   * Starts the server. In the master: binds, forks `process_number` workers
   * running this same script, and resolves once the whole server has stopped.
   * In a worker: serves connections and resolves once this worker has stopped.
   */
  async run(): Promise<void> {
    if (this.#running) throw new ServerRunningError('run() was already called');
    this.#running = true;
    this.#log.level = this.#settings.get('log_level') as LogLevel;
    if (this.isWorker) {
      this.#worker = new Worker(this.#settings, this.#handlers, this.workerId!);
      return this.#worker.run();
    }
    checkPidFile(this.#settings.get('pid_file') as string);
    this.#master = new Master(this.#settings, this.#handlers, this.#log);
    return this.#master.run();
  }

  /** Graceful stop: the whole server from the master; this worker alone from a worker. */
  stop(): void {
    if (this.#master) this.#master.stop();
    else if (this.#worker) this.#worker.stop('stop()');
  }

  /** Rolling restart of the workers, one at a time (also SIGUSR1 to the master). */
  reload(): void {
    if (this.#master) this.#master.reload();
    else if (this.isWorker) process.kill(process.ppid, 'SIGUSR1');
  }

  /** Per-worker and total counters, gathered from the workers over IPC (master only). */
  async stats(): Promise<ServerStats> {
    if (!this.#master) throw new NoConnectionError('stats() is answered by the master after run()');
    return this.#master.stats();
  }
}

export type { Remote, Target, ServerStats, KnownSettings };

/** A pid_file goes in a directory that exists and that we may write in (ERR_INVALID_SETTING otherwise, as a missing certificate). */
function checkPidFile(path: string): void {
  if (!path) return;
  const dir = dirname(resolve(path));
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new InvalidSettingError(
      'pid_file',
      `a path in an existing, writable directory (${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      path,
    );
  }
}
