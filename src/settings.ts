// The settings facade over a store of the core (one per Settings, so one per
// Server): encodes JS values as tagged bytes, decodes them back, reads the
// schema's key names and allowed texts (static strings of the core) through
// the loader, and turns a refused value into InvalidSettingError.
import * as S from '../assembly/status.js';
import { core, type Core } from './core.js';
import { InvalidSettingError } from './errors.js';

export type SettingValue = string | number | boolean | null | Buffer | object;

/** Pack codes of `package_length_type` (PHP's pack() letters, as Swoole uses them). */
export type PackCode = 'c' | 'C' | 's' | 'S' | 'n' | 'v' | 'l' | 'L' | 'N' | 'V';

/** The settings the server knows, with their types (README, "Settings"). */
export interface KnownSettings {
  ip: string;
  port: number;
  process_number: number;
  master_name: string;
  worker_name: string;
  protocol: 'raw' | 'eof' | 'length' | 'http';
  package_eof: string | Uint8Array;
  package_length_type: PackCode;
  package_length_offset: number;
  package_body_offset: number;
  package_max_length: number;
  dispatch_mode: 'shared' | 'round_robin' | 'hybrid' | 'reuseport';
  max_conn: number;
  heartbeat_idle_time: number;
  /** Seconds a TLS handshake or a PROXY header may take from the accept (0: off). Default 10. */
  handshake_timeout: number;
  /** Seconds a message may stay unfinished before its connection fails with ERR_PACKAGE_TIMEOUT (0: off). Default 60. */
  package_timeout: number;
  socket_buffer_size: number;
  input_buffer_limit: number;
  max_request: number;
  max_wait_time: number;
  backlog: number;
  pid_file: string;
  proxy_protocol: boolean;
  ssl_cert_file: string;
  ssl_key_file: string;
  log_level: 'info' | 'error' | 'silent';
  http_auto_continue: boolean;
  http_error_replies: boolean;
  reload_handover: boolean;
}

/** Whether `key` is one of the settings the server knows. */
export function isKnown(key: string): key is keyof KnownSettings {
  return KNOWN_KEYS.has(key);
}

const KNOWN_KEYS = new Set<string>([
  'ip',
  'port',
  'process_number',
  'master_name',
  'worker_name',
  'protocol',
  'package_eof',
  'package_length_type',
  'package_length_offset',
  'package_body_offset',
  'package_max_length',
  'dispatch_mode',
  'max_conn',
  'heartbeat_idle_time',
  'socket_buffer_size',
  'input_buffer_limit',
  'max_request',
  'max_wait_time',
  'backlog',
  'pid_file',
  'proxy_protocol',
  'ssl_cert_file',
  'ssl_key_file',
  'log_level',
  'http_auto_continue',
  'http_error_replies',
  'reload_handover',
  'handshake_timeout',
  'package_timeout',
] satisfies (keyof KnownSettings)[]);

const utf8 = new TextDecoder();

// A store whose Settings was dropped without dispose() is freed when the
// Settings is collected. A core that aborted earlier may refuse: nothing to do then.
const unreferenced = new FinalizationRegistry<{ core: Core; store: number }>(({ core, store }) => {
  try {
    core.exports.store_free(store);
  } catch {
    // the instance is past use
  }
});

/**
 * One settings store: its own block in the core's linear memory, so two
 * Servers in one process never see each other's settings. Connections are
 * opened with `core.open(settings.store)`.
 */
export class Settings {
  readonly #core: Core;
  #store: number;

  constructor(c: Core = core()) {
    this.#core = c;
    this.#store = c.exports.store_new();
    c.views();
    unreferenced.register(this, { core: c, store: this.#store }, this);
  }

  /** This store's address in the core's linear memory, for `Core.open` (0 once disposed). */
  get store(): number {
    return this.#store;
  }

  /** Frees the store. Connections opened from it keep their settings; this object is unusable after. */
  dispose(): void {
    if (this.#store === 0) return;
    unreferenced.unregister(this);
    this.#core.exports.store_free(this.#store);
    this.#store = 0;
  }

  /** The store, for a call into the core; throws once disposed. */
  #live(): number {
    if (this.#store === 0) throw new Error('tcp-prefork: these settings were disposed');
    return this.#store;
  }

  /** Validates and stores one setting. Throws InvalidSettingError (ERR_INVALID_SETTING). */
  set(key: string, value: unknown): void {
    if (typeof key !== 'string' || key.length === 0) {
      throw new InvalidSettingError(String(key), 'a non-empty string as the key');
    }
    const c = this.#core;
    const store = this.#live();
    const keyBytes = Buffer.from(key);
    let tag: number;
    let num = 0;
    let bytes: Uint8Array | undefined;
    if (typeof value === 'string') {
      tag = S.TAG_STRING;
      bytes = Buffer.from(value);
    } else if (typeof value === 'number') {
      tag = S.TAG_NUMBER;
      num = value;
    } else if (typeof value === 'boolean') {
      tag = S.TAG_BOOL;
      num = value ? 1 : 0;
    } else if (value === null) {
      tag = S.TAG_NULL;
    } else if (value instanceof Uint8Array) {
      tag = S.TAG_BYTES;
      bytes = value;
    } else if (typeof value === 'object') {
      let json: string | undefined;
      try {
        json = JSON.stringify(value);
      } catch {
        json = undefined;
      }
      if (json === undefined) throw new InvalidSettingError(key, 'a value that can be serialized to JSON', value);
      tag = S.TAG_JSON;
      bytes = Buffer.from(json);
    } else {
      throw new InvalidSettingError(key, 'a string, number, boolean, null, Buffer or JSON-serializable object', value);
    }
    let end = c.scratch(keyBytes, 0);
    if (bytes) end = c.scratch(bytes, end);
    const status = c.exports.setting_set(store, keyBytes.length, tag, num, bytes ? bytes.length : 0);
    c.views();
    if (status !== S.OK) throw new InvalidSettingError(key, this.#allowed(c.ctrl(S.CTRL_ARG)), value);
  }

  /** One setting's value, or undefined for a key never set. */
  get(key: string): SettingValue | undefined {
    const c = this.#core;
    const store = this.#live();
    const keyBytes = Buffer.from(String(key));
    c.scratch(keyBytes, 0);
    const i = c.exports.setting_find(store, keyBytes.length);
    return i < 0 ? undefined : this.#read(store, i);
  }

  /** Every setting, defaults included, as a plain object. */
  all(): Record<string, SettingValue> {
    const c = this.#core;
    const store = this.#live();
    const out: Record<string, SettingValue> = {};
    const n = c.exports.setting_count(store);
    for (let i = 0; i < n; i++) {
      // defineProperty: a key like "__proto__" stays an own key, not the prototype.
      Object.defineProperty(out, this.#key(store, i), {
        value: this.#read(store, i),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  /** Entry i's key: a known key's name is a static string of the core; another key, its UTF-8 bytes. */
  #key(store: number, i: number): string {
    const c = this.#core;
    const name = c.exports.setting_key(store, i);
    if (name !== 0) return c.string(name);
    c.views();
    const p = c.ctrl(S.CTRL_STR_PTR);
    return utf8.decode(c.u8.subarray(p, p + c.ctrl(S.CTRL_STR_LEN)));
  }

  /** What known key i allows, as the core's schema says it. */
  #allowed(i: number): string {
    const c = this.#core;
    return c.string(c.exports.schema_allowed(i));
  }

  #read(store: number, i: number): SettingValue {
    const c = this.#core;
    const tag = c.exports.setting_read(store, i);
    c.views();
    const p = c.ctrl(S.CTRL_STR_PTR);
    const bytes = () => c.u8.subarray(p, p + c.ctrl(S.CTRL_STR_LEN));
    switch (tag) {
      case S.TAG_NUMBER:
        return c.ctrlNum();
      case S.TAG_BOOL:
        return c.ctrlNum() !== 0;
      case S.TAG_STRING:
        return utf8.decode(bytes());
      case S.TAG_BYTES:
        return Buffer.from(bytes());
      case S.TAG_JSON:
        return JSON.parse(utf8.decode(bytes())) as object;
      default:
        return null;
    }
  }

  /** The whole store as bytes, to hand to a worker. */
  serialize(): Buffer {
    const c = this.#core;
    const len = c.exports.settings_serialize(this.#live());
    c.views();
    return c.bytes(c.ctrl(S.CTRL_STR_PTR), len);
  }

  /** Loads a serialized store. Throws InvalidSettingError on a bad blob. */
  load(blob: Uint8Array): void {
    const c = this.#core;
    const store = this.#live();
    c.scratch(blob, 0);
    const status = c.exports.settings_load(store, blob.length);
    c.views();
    if (status === S.ERR_INVALID_SETTING) {
      const index = c.ctrl(S.CTRL_ARG);
      throw new InvalidSettingError(this.#key(store, index), this.#allowed(index));
    }
    if (status !== S.OK) throw new InvalidSettingError('(serialized store)', 'bytes made by serialize()');
  }

  /** Restores the defaults and forgets unknown keys, in this store only. */
  reset(): void {
    this.#core.exports.settings_reset(this.#live());
    this.#core.views();
  }
}
