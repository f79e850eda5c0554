// The public types help: what must not compile is marked @ts-expect-error, so
// `npm test` (tsc --noEmit over test/) fails if it ever compiles again. The
// run-time half: an unknown setting is kept with one warning, a custom one
// without.
import { describe, expect, it, vi } from 'vitest';
import {
  type BadHttpError,
  type KnownSettings,
  type Remote,
  type ServerError,
  type ServerStats,
  Server,
  TcpPreforkError,
} from '../src/index.js';

describe('types', () => {
  it('settings: known keys are typed, a typo does not compile, custom keys need { custom: true }', () => {
    const s = new Server('127.0.0.1', 0);
    s.set('protocol', 'eof');
    s.set('package_max_length', 1024);
    // Type-checked, never run.
    const wrong = () => {
      // @ts-expect-error: not a protocol
      s.set('protocol', 'udp' as string);
      // @ts-expect-error: a typo'd key
      s.set('protocl', 'eof');
      // @ts-expect-error: a number where a boolean is expected
      s.set('proxy_protocol', 1);
    };
    void wrong;
    s.set('my_app_key', { deep: [1] }, { custom: true });
    const p: KnownSettings['protocol'] = s.get('protocol');
    expect(p).toBe('eof');
    const n: number = s.get('package_max_length');
    expect(n).toBe(1024);
    expect(s.get('my_app_key')).toEqual({ deep: [1] });
  });

  it('events: a typo does not compile; callbacks may be async; err.code is a string', () => {
    const s = new Server('127.0.0.1', 0);
    // @ts-expect-error: no such event
    expect(() => s.bind('recieve', () => {})).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_EVENT' }));
    s.bind('receive', async (message: Buffer, remote: Remote) => {
      await Promise.resolve();
      s.send(message, remote);
    });
    s.bind('error', (err: ServerError, remote?: Remote) => {
      const code: string = err.code;
      void code;
      void remote;
    });
    // @ts-expect-error: receive gets a Buffer, not a string
    s.bind('receive', (message: string) => void message);
    const e: TcpPreforkError = new TcpPreforkError('ERR_X', 'x');
    expect(e.code).toBe('ERR_X');
    const stats: ServerStats | null = null;
    const bad: BadHttpError | null = null;
    void stats;
    void bad;
  });

  it("set({ ... }), Swoole's form: several settings at once, all or none", () => {
    const s = new Server('127.0.0.1', 0);
    s.set({ process_number: 3, protocol: 'eof', package_eof: '\n' });
    expect([s.get('process_number'), s.get('protocol'), s.get('package_eof')]).toEqual([3, 'eof', '\n']);
    // @ts-expect-error: a typo'd key does not compile in the object form either
    const typo = () => s.set({ procces_number: 2 });
    void typo;
    // One invalid value: it throws naming that key, and none of the others is kept.
    expect(() => s.set({ process_number: 5, protocol: 'udp' as 'eof', package_max_length: 99 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_SETTING', key: 'protocol' }),
    );
    expect([s.get('process_number'), s.get('protocol'), s.get('package_max_length')]).toEqual([3, 'eof', 2 * 1024 * 1024]);
    // Neither a number nor null is a key.
    expect(() => (s.set as (k: unknown) => Server)(null)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SETTING' }));
    expect(() => (s.set as (k: unknown, v: unknown) => Server)(7, 1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_SETTING' }),
    );
  });

  it('an unknown key is kept, with one warning on stderr; a custom one and a known one warn nothing', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const s = new Server('127.0.0.1', 0);
      s.set('log_level', 'error');
      s.set('mine', 1, { custom: true });
      expect(write).not.toHaveBeenCalled();
      (s.set as (k: string, v: unknown) => Server)('procces_number', 2);
      (s.set as (k: string, v: unknown) => Server)('procces_number', 3);
      expect(write).toHaveBeenCalledTimes(1);
      expect(String(write.mock.calls[0][0])).toContain('unknown setting "procces_number"');
      expect(s.get('procces_number')).toBe(3);
    } finally {
      write.mockRestore();
    }
  });
});
