#!/usr/bin/env node
// Messaging across workers, measured (npm run bench, item 8; or alone with
// --json). Against bench/broadcast-server.mjs, 2 workers, on 127.0.0.1:
// - broadcast: 1,000 connections, one worker broadcasts a 2-byte line every
//   ms for D seconds: the lines the clients received per second, against the
//   lines sent (1,000 per broadcast), and the master's CPU per broadcast (it
//   relays each one to the other worker);
// - a send to another worker's connection against one to the worker's own:
//   the CPU of all three processes per message, over N messages each way,
//   alternating.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    conns: { type: 'string', default: '1000' },
    sends: { type: 'string', default: '50000' },
  },
});
const D = Number(opt.duration);
const ROUNDS = Number(opt.rounds);
const CONNS = Number(opt.conns);
const SENDS = Number(opt.sends);
const say = (s) => process.stderr.write(`${s}\n`);

const SERVER = join(dirname(fileURLToPath(import.meta.url)), 'broadcast-server.mjs');
const ticks = 100; // clock ticks per second for /proc/PID/stat

function cpu(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / ticks;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A connection that counts the 2-byte lines it receives, and can wait for a line starting with `prefix`. */
function conn(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const c = { s, bytes: 0, text: '' };
    s.setNoDelay(true);
    s.on('data', (d) => {
      c.bytes += d.length;
      if (c.keep) c.text += d.toString();
    });
    s.once('connect', () => resolve(c));
    s.once('error', reject);
  });
}

async function line(c, prefix, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const i = c.text.indexOf(prefix);
    if (i >= 0) {
      const j = c.text.indexOf('\n', i);
      if (j >= 0) {
        const out = c.text.slice(i, j);
        c.text = c.text.slice(j + 1);
        return out;
      }
    }
    if (Date.now() > end) throw new Error(`no "${prefix}" line`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const server = spawn(process.execPath, [SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
const info = await new Promise((resolve) => {
  let buf = '';
  server.stdout.on('data', (d) => {
    buf += d;
    if (buf.includes('\n')) resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
  });
});
const master = server.pid;
const all = [master, ...info.workers];
try {
  // Three control connections, placed in turn: ctl[0] and ctl[2] on one worker, ctl[1] on the other.
  const ctl = [await conn(info.port), await conn(info.port), await conn(info.port)];
  for (const c of ctl) c.keep = true;
  const ids = [];
  for (const c of ctl) {
    c.s.write('ID\n');
    ids.push((await line(c, 'id ')).slice(3));
  }
  const listeners = [];
  for (let i = 0; i < CONNS; i++) listeners.push(await conn(info.port));
  await new Promise((r) => setTimeout(r, 300));

  // Broadcast: ctl[0]'s worker broadcasts every ms for D seconds.
  const bcast = [];
  for (let r = 0; r < ROUNDS; r++) {
    const n = D * 1000;
    const got0 = listeners.reduce((a, c) => a + c.bytes, 0);
    const m0 = cpu(master);
    const t0 = process.hrtime.bigint();
    ctl[0].s.write(`B 1 ${n}\n`);
    await line(ctl[0], 'done ');
    // What is still on its way arrives within a moment.
    let last = -1;
    let got = 0;
    while (got !== last) {
      last = got;
      await new Promise((res) => setTimeout(res, 100));
      got = listeners.reduce((a, c) => a + c.bytes, 0) - got0;
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const delivered = got / 2;
    bcast.push({
      delivered_per_s: delivered / secs,
      expected: n * CONNS,
      delivered,
      master_us_per_broadcast: ((cpu(master) - m0) * 1e6) / n,
    });
    say(
      `  broadcast round ${r + 1}/${ROUNDS}: ${Math.round(delivered / secs)} lines/s delivered (${delivered} of ${n * CONNS} in ${secs.toFixed(2)} s); master ${(((cpu(master) - m0) * 1e6) / n).toFixed(1)} us per broadcast`,
    );
  }

  // From ctl[0]'s worker: sends to another connection of the same worker (ctl[2]) against sends to
  // a connection of the other worker (ctl[1]), each counted until they have arrived.
  const local = [];
  const cross = [];
  const measure = async (target, to) => {
    const c0 = all.reduce((a, p) => a + cpu(p), 0);
    const b0 = to.bytes;
    ctl[0].s.write(`S ${target} ${SENDS}\n`);
    await line(ctl[0], 'done ');
    const end = Date.now() + 60000;
    while (to.bytes - b0 < SENDS * 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    return ((all.reduce((a, p) => a + cpu(p), 0) - c0) * 1e6) / SENDS;
  };
  for (let r = 0; r < ROUNDS; r++) {
    local.push(await measure(ids[2], ctl[2]));
    cross.push(await measure(ids[1], ctl[1]));
    say(
      `  send round ${r + 1}/${ROUNDS}: local ${local.at(-1).toFixed(2)} us, cross-worker ${cross.at(-1).toFixed(2)} us of CPU per message`,
    );
  }
  const out = {
    connections: CONNS,
    broadcast: {
      every_ms: 1,
      delivered_per_s: median(bcast.map((b) => b.delivered_per_s)),
      delivered_fraction: median(bcast.map((b) => b.delivered / b.expected)),
      master_us_per_broadcast: median(bcast.map((b) => b.master_us_per_broadcast)),
    },
    send: { local_us: median(local), cross_us: median(cross), ratio: median(cross) / median(local) },
  };
  if (opt.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  else say(JSON.stringify(out, null, 2));
  for (const c of [...ctl, ...listeners]) c.s.destroy();
} finally {
  server.kill('SIGTERM');
}
