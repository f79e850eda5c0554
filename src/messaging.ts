// Messages that cross processes: a reply to a connection another worker
// serves, a broadcast to every connection of every worker, and messages
// between workers and the master. They travel through the master over IPC
// (JSON): bytes as base64, strings as they are; the master routes by the
// worker's pid, which every connection id carries (`<workerId>-<pid>-<n>`).
// One worker's messages to one connection keep their order: each hop is one
// ordered IPC channel.
import { MessageTooLargeError } from './errors.js';
import type { Remote } from './events.js';

/** A message on its way: a string as it is, or bytes as base64. */
export type Payload = { s: string } | { b: string };

/** The worker id for the master in sendMessage and the `message` event. */
export const MASTER = -1;

/** Packs a message for IPC; refuses one longer than `max` bytes (package_max_length). */
export function pack(message: string | Uint8Array, max: number): Payload {
  const bytes = typeof message === 'string' ? Buffer.byteLength(message) : message.byteLength;
  if (bytes > max) throw new MessageTooLargeError(bytes, max);
  if (typeof message === 'string') return { s: message };
  return { b: Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('base64') };
}

export function unpack(p: Payload): string | Buffer {
  return 's' in p ? p.s : Buffer.from(p.b, 'base64');
}

/** JSON text of a worker message, refused past `max` bytes. */
export function packData(data: unknown, max: number): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch {
    json = undefined;
  }
  if (json === undefined) throw new TypeError('sendMessage() takes a JSON-able value');
  const bytes = Buffer.byteLength(json);
  if (bytes > max) throw new MessageTooLargeError(bytes, max);
  return json;
}

/** The worker id and pid a connection id names, or null for something that is not one. */
export function ownerOf(id: string): { workerId: number; pid: number } | null {
  const m = /^(\d+)-(\d+)-\d+$/.exec(id);
  return m ? { workerId: Number(m[1]), pid: Number(m[2]) } : null;
}

/** Which connections a broadcast reaches: all, all but some, or only some (by remote or id). */
export interface BroadcastFilter {
  except?: string | Remote | (string | Remote)[];
  only?: string | Remote | (string | Remote)[];
}

/** The filter as id sets, to travel and to test against. */
export interface FilterIds {
  except?: string[];
  only?: string[];
}

function ids(t: string | Remote | (string | Remote)[] | undefined): string[] | undefined {
  if (t === undefined) return undefined;
  const list = Array.isArray(t) ? t : [t];
  return list.map((x) => (typeof x === 'string' ? x : x.id));
}

export function filterIds(filter: BroadcastFilter | undefined): FilterIds {
  if (filter === undefined) return {};
  if (typeof filter !== 'object' || filter === null)
    throw new TypeError('broadcast() takes a filter { except, only } of remotes or ids');
  return { except: ids(filter.except), only: ids(filter.only) };
}

/** Whether connection `id` passes the filter. */
export function passes(f: FilterIds, id: string): boolean {
  if (f.only !== undefined && !f.only.includes(id)) return false;
  return f.except === undefined || !f.except.includes(id);
}
