// The request/reply helper over IPC, in process: each request gets a number,
// each reply reaches its own waiter, and nobody waits for a peer that is gone.
import { describe, expect, it } from 'vitest';
import { Requests } from '../src/ipc.js';

describe('Requests', () => {
  it('numbers each request and routes each reply to its waiter, in any order', async () => {
    const r = new Requests();
    const sent: { seq: number; type: string }[] = [];
    const send = (m: { seq: number }) => {
      sent.push(m as { seq: number; type: string });
      return true;
    };
    const a = r.ask(send, { type: 'stats' }, 'none');
    const b = r.ask(send, { type: 'stats' }, 'none');
    expect(sent.map((m) => m.type)).toEqual(['stats', 'stats']);
    expect(new Set(sent.map((m) => m.seq)).size).toBe(2);
    r.answer(sent[1].seq, 'B');
    r.answer(sent[0].seq, 'A');
    r.answer(sent[0].seq, 'again'); // a second reply for the same seq is ignored
    expect(await Promise.all([a, b])).toEqual(['A', 'B']);
  });

  it('a request that cannot be sent, or whose peer goes away, gets its own fallback', async () => {
    const r = new Requests();
    expect(await r.ask(() => false, { type: 'conn' }, { accepted: false })).toEqual({ accepted: false });
    expect(
      await r.ask(
        () => {
          throw new Error('channel closed');
        },
        { type: 'conn' },
        'thrown',
      ),
    ).toBe('thrown');
    const pending = [r.ask(() => true, { type: 'conn' }, 1), r.ask(() => true, { type: 'stats' }, 2)];
    r.close();
    expect(await Promise.all(pending)).toEqual([1, 2]);
    // Closed: later requests are not sent at all.
    let calls = 0;
    expect(
      await r.ask(
        () => {
          calls++;
          return true;
        },
        {},
        'late',
      ),
    ).toBe('late');
    expect(calls).toBe(0);
  });
});
