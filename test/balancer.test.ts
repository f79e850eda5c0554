// Placing connections on workers, in process with stand-in workers: the
// least-loaded first and in turn on a tie, a refused connection placed
// elsewhere, our copy dropped only once a worker serves it, max_conn.
import { describe, expect, it } from 'vitest';
import { Balancer, type Handoff, type Seat } from '../src/dispatch/balancer.js';
import type { MaxConnError } from '../src/errors.js';
import { until } from './helpers/proc.js';

class FakeSeat implements Seat {
  load = 0;
  got: Handoff[] = [];
  constructor(
    readonly name: string,
    public accepts = true,
    public isOpen = true,
  ) {}
  open(): boolean {
    return this.isOpen;
  }
  give(conn: Handoff, done: (accepted: boolean) => void): void {
    this.got.push(conn);
    // The answer comes later, as an IPC reply does.
    setImmediate(() => done(this.accepts));
  }
}

function conn(): Handoff & { closed: number } {
  const c = { handle: null as never, closed: 0, close: () => void c.closed++ };
  return c;
}

describe('Balancer', () => {
  it('places on the least-loaded worker, in turn on a tie', () => {
    const seats = [new FakeSeat('a'), new FakeSeat('b'), new FakeSeat('c')];
    seats[0].load = 5;
    const b = new Balancer(
      () => seats,
      1000,
      () => {},
    );
    for (let i = 0; i < 6; i++) b.place(conn());
    expect(seats.map((s) => s.got.length)).toEqual([0, 3, 3]);
    expect(seats.map((s) => s.load)).toEqual([5, 3, 3]);
  });

  it('keeps its copy until a worker serves the connection, then drops it; a refusal is placed elsewhere', async () => {
    const a = new FakeSeat('a', false);
    const b = new FakeSeat('b', true);
    const bal = new Balancer(
      () => [a, b],
      1000,
      () => {},
    );
    const c = conn();
    bal.place(c);
    expect(c.closed).toBe(0); // in transit: the master still holds it
    await until(() => b.got.length === 1);
    await until(() => c.closed === 1);
    expect(a.got).toEqual([c]);
    expect(b.got).toEqual([c]);
    expect([a.load, b.load]).toEqual([0, 1]);
  });

  it('when every worker refuses, retries, then drops the connection', async () => {
    const a = new FakeSeat('a', false);
    const bal = new Balancer(
      () => [a],
      1000,
      () => {},
    );
    const c = conn();
    bal.place(c);
    expect(await until(() => c.closed === 1, 5000)).toBe(true);
    expect(a.got.length).toBeGreaterThan(1);
  });

  it('refuses at max_conn, with ERR_MAX_CONN', () => {
    const a = new FakeSeat('a');
    a.load = 10;
    const refused: MaxConnError[] = [];
    const bal = new Balancer(
      () => [a],
      10,
      (e) => refused.push(e),
    );
    const c = conn();
    bal.place(c);
    expect(c.closed).toBe(1);
    expect(a.got).toEqual([]);
    expect(refused.map((e) => e.code)).toEqual(['ERR_MAX_CONN']);
  });

  it('skips a worker that cannot take connections now (starting, stopping)', () => {
    const a = new FakeSeat('a', true, false);
    const b = new FakeSeat('b');
    new Balancer(
      () => [a, b],
      1000,
      () => {},
    ).place(conn());
    expect([a.got.length, b.got.length]).toEqual([0, 1]);
  });
});
