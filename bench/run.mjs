#!/usr/bin/env node
// `npm run bench`: the demo server (build/src/demo.js) against the bare
// node:net baseline (bench/baseline.mjs), on 127.0.0.1 only, with wrk and ab,
// or with autocannon (a devDependency) where they are missing or with --load autocannon.
//
//   node bench/run.mjs [--rounds 7] [--duration 3] [--quick] [--only 1,2,...] [--out bench/results]
//                      [--load wrk|autocannon]
//
// Items: 1 one pinned worker (a keep-alive, b 10 pipelined, c ab -c100 without
// keep-alive, d worker CPU per request and RSS); 2 accepts/s without
// keep-alive, 2 workers, per dispatch mode; 3 connection distribution per
// dispatch mode; 4 worker RSS per idle connection (10,000); 5 keep-alive req/s
// with 1 and 2 workers; 6 WASM against JS framing (bench/core.mjs); 7 TLS;
// 8 messaging across workers (bench/broadcast.mjs).
// Item 1 also measures reference servers a user might pick instead
// (bench/references.mjs: node:http with cluster, and nginx when installed).
// Baseline and server runs alternate; figures are medians over the rounds.
// Writes results.json, results.md and chart.svg into --out.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  startServer,
  stopServer,
  killAllSync,
  workerPids,
  cpuSeconds,
  cpuBusySeconds,
  rssBytes,
  socketFds,
  establishedByPid,
  portInodes,
  socketOwnership,
  sleep,
} from './lib/proc.mjs';
import { generator, hasCommand, run, versions, cleanupScripts } from './lib/load.mjs';
import { holdConnections } from './lib/conns.mjs';
import { median, round, ratio } from './lib/stats.mjs';
import { textTable, markdown, svgChart } from './lib/report.mjs';
import { nginxVersion } from './references.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// --demo PATH measures another build of the demo (an older commit's build/src/demo.js, say).
const DEMO_DEFAULT = join(ROOT, 'build/src/demo.js');
const BASELINE = join(ROOT, 'bench/baseline.mjs');
const CORE = join(ROOT, 'bench/core.mjs');
const BROADCAST = join(ROOT, 'bench/broadcast.mjs');
const REFERENCES = join(ROOT, 'bench/references.mjs');

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string' },
    duration: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
    load: { type: 'string' },
    demo: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  process.stdout.write(
    'usage: node bench/run.mjs [--rounds N] [--duration S] [--quick] [--only 1,2,...,8] [--out DIR] [--load wrk|autocannon] [--demo PATH]\n' +
      '  --demo: the demo script to measure (default build/src/demo.js)\n' +
      '  --load: wrk (wrk and ab) or autocannon; default wrk when wrk and ab are both on PATH, else autocannon\n',
  );
  process.exit(0);
}
const DEMO = opt.demo ? resolve(opt.demo) : DEMO_DEFAULT;
if (opt.load !== undefined && opt.load !== 'wrk' && opt.load !== 'autocannon') {
  process.stderr.write(`bench: --load ${opt.load}: expected wrk or autocannon\n`);
  process.exit(2);
}
// At least 7 rounds by default: single runs on a shared machine swing by 20%.
const ROUNDS = Math.max(1, Number(opt.rounds ?? (opt.quick ? 1 : 7)));
const D = Math.max(1, Number(opt.duration ?? (opt.quick ? 2 : 3)));
const WARM = 1; // seconds of warm-up load per server before its measured rounds
const ITEMS = new Set(
  (opt.only ?? '1,2,3,4,5,6,7,8')
    .split(',')
    .map((s) => s.trim().replace(/[a-d]$/, ''))
    .filter(Boolean),
);
const HOST = '127.0.0.1';
const SERVER_CPU = 0;
const CLIENT_CPU = 1;
const IDLE_CONNS = 10000;
const DIST_CONNS = 200;
// The dispatch modes to compare: reuseport needs Node 22.12+ (net's reusePort option).
const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split('.').map(Number);
const REUSEPORT = NODE_MAJOR > 22 || (NODE_MAJOR === 22 && NODE_MINOR >= 12);
const MODES = ['shared', 'round_robin', 'hybrid', ...(REUSEPORT ? ['reuseport'] : [])];
const modeSpec = (mode) => ({ label: `demo 2w ${mode}`, role: mode, args: demoArgs(2, ['--dispatch', mode]) });
/** Item 7's target: the demo over TLS against bare node:tls. */
const TLS_TARGET = 0.95;
/** A pinned run is repeated when its CPU was busier than this outside the server (share of wall time). */
const NOISY = 0.25;
/** /proc is there (Linux): CPU time, RSS and socket ownership are read from it. */
const HAVE_PROC = existsSync('/proc/self/stat');

// Set by setup() from the tools found: the load generator, and whether cases pin with taskset.
let LOAD = null;
let PIN = true;
let HAVE_SS = true;
/** CPUs for the pinned cases: [server, client], or [null, null] without taskset. */
const pinned = () => (PIN ? [SERVER_CPU, CLIENT_CPU] : [null, null]);

const say = (s) => process.stdout.write(`${s}\n`);
const note = (s) => process.stdout.write(`  · ${s}\n`);

// ---------------------------------------------------------------- servers

const demoArgs = (workers, extra = []) => [DEMO, '--host', HOST, '--port', '0', '--workers', String(workers), ...extra];
const baselineArgs = (workers, extra = []) => [BASELINE, '--host', HOST, '--port', '0', '--workers', String(workers), ...extra];
const referenceArgs = (kind, workers) => [REFERENCES, kind, '--host', HOST, '--port', '0', '--workers', String(workers)];
/** Reference servers for item 1: node:http with cluster, and nginx when it is installed. */
function referenceSpecs(id, cpu) {
  const out = [{ label: `node:http cluster 1w (${id})`, role: 'node:http cluster', args: referenceArgs('cluster', 1), cpu }];
  const nginx = results.machine.nginx;
  if (nginx) out.push({ label: `${nginx} 1w (${id})`, role: nginx, args: referenceArgs('nginx', 1), cpu });
  return out;
}

/** Starts servers one after another; on failure stops the ones already started. */
async function startAll(specs) {
  const out = [];
  try {
    for (const s of specs) {
      const srv = await startServer(s.label, s.args, { cpu: s.cpu ?? null });
      srv.role = s.role;
      out.push(srv);
    }
  } catch (err) {
    await Promise.all(out.map((s) => stopServer(s)));
    throw err;
  }
  return out;
}

const stopAll = (servers) => Promise.all(servers.map((s) => stopServer(s)));

/** Total CPU seconds of a set of PIDs (missing ones count 0); null without /proc. */
const cpuOf = (pids) => (HAVE_PROC ? pids.reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0) : null);
const perReq = (s0, s1, n) => (s0 === null || s1 === null || !n ? null : ((s1 - s0) * 1e6) / n);

/**
 * Runs `measure(srv, onStart)` on every server, R rounds, alternating the order each
 * round; returns per server { rps[], cpuWorker[] (us/req), cpuTotal[] (us/req), raw[] }.
 * The CPU counters are read before the run, and again when the load
 * generator calls onStart (autocannon starts a Node process first: its
 * start-up is not part of the run).
 * For a pinned server, a run during which its CPU was more than NOISY busy
 * outside the server's processes is run again (at most `rounds` retries per
 * server); the discarded run stays in raw with discarded: true.
 */
async function alternate(servers, measure, rounds = ROUNDS) {
  const acc = new Map(servers.map((s) => [s, { rps: [], cpuWorker: [], cpuTotal: [], raw: [], retries: 0 }]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const srv of order) {
      const a = acc.get(srv);
      for (;;) {
        const workers = workerPids(srv);
        const sample = () => ({
          w: cpuOf(workers),
          t: cpuOf([srv.master, ...workers]),
          b: srv.cpu === null ? null : cpuBusySeconds(srv.cpu),
          wall: performance.now(),
        });
        let start = sample();
        const res = await measure(srv, () => {
          start = sample();
        });
        const { w: w0, t: t0, b: b0, wall: wall0 } = start;
        if (!res.requests) {
          throw new Error(
            `${srv.label}: no responses in ${round(res.seconds, 1)} s${errorText(res.errors)}` +
              `${srv.log.length ? `; server log: ${srv.log.slice(-5).join(' | ')}` : ''}`,
          );
        }
        const w1 = cpuOf(workers);
        const t1 = cpuOf([srv.master, ...workers]);
        const b1 = srv.cpu === null ? null : cpuBusySeconds(srv.cpu);
        // Pinned servers: how busy others kept the server's CPU meanwhile (noise; includes softirq work).
        const other =
          b0 === null || b1 === null ? null : Math.max(0, (b1 - b0 - (t1 - t0)) / ((performance.now() - wall0) / 1000));
        const cpuWorker = perReq(w0, w1, res.requests);
        const retry = other !== null && other > NOISY && a.retries < rounds;
        const raw = {
          round: r,
          rps: round(res.rps, 1),
          requests: res.requests,
          seconds: round(res.seconds, 3),
          errors: res.errors,
          worker_cpu_s: w0 === null ? null : round(w1 - w0, 2),
          total_cpu_s: t0 === null ? null : round(t1 - t0, 2),
          ...(other === null ? {} : { server_cpu_other_busy: round(other, 2) }),
        };
        note(
          `${srv.label} round ${r + 1}/${rounds}: ${Math.round(res.rps)} req/s` +
            `${errorText(res.errors)}, worker CPU ${cpuWorker?.toFixed(2) ?? '-'} us/req` +
            `${other === null ? '' : `, CPU ${srv.cpu} ${Math.round(other * 100)}% busy outside the server (others, softirq)`}` +
            `${retry ? ' -> noisy, run again' : ''}`,
        );
        if (retry) {
          a.retries++;
          a.raw.push({ ...raw, discarded: true });
          continue;
        }
        a.rps.push(res.rps);
        a.cpuWorker.push(cpuWorker);
        a.cpuTotal.push(perReq(t0, t1, res.requests));
        a.raw.push(raw);
        break;
      }
    }
  }
  return acc;
}

function errorText(errors) {
  const bad = Object.entries(errors ?? {}).filter(([, v]) => v);
  return bad.length ? ` (errors: ${bad.map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
}

// ---------------------------------------------------------------- results

const results = {
  machine: {},
  config: { rounds: ROUNDS, duration: D, warmup: WARM, quick: opt.quick, only: [...ITEMS], argv: process.argv.slice(2) },
  rows: [],
  items: {},
  errors: [],
};

function addRow(row) {
  const r = { server: null, baseline: null, ratio: null, target: null, pass: null, ...row };
  results.rows.push(r);
  return r;
}

/** A req/s row with a "server/baseline >= target" verdict. */
function rpsRow(item, name, s, b, target) {
  const rs = median(s.rps),
    rb = median(b.rps);
  const q = ratio(rs, rb);
  return addRow({
    item,
    case: name,
    unit: 'req/s',
    server: round(rs, 1),
    baseline: round(rb, 1),
    ratio: round(q, 3),
    target: target ? `>=${target.toFixed(2)}` : null,
    pass: target && q !== null ? q >= target : null,
    samples: { server: s.raw, baseline: b.raw },
  });
}

// ---------------------------------------------------------------- item 1: one pinned worker

async function item1() {
  const [serverCpu, clientCpu] = pinned();
  say(
    PIN
      ? `\n[1] one worker, server pinned to CPU ${SERVER_CPU}, client (${LOAD.kind}) pinned to CPU ${CLIENT_CPU}`
      : `\n[1] one worker, server and client (${LOAD.kind}) unpinned (no taskset)`,
  );
  const { describe } = LOAD;
  // Targets (issue 10): req/s at least these times the baseline's; worker CPU per request at most cpuTarget times.
  const cases = [
    {
      id: '1a',
      name: `keep-alive, ${describe.keepAlive(50)}`,
      target: 1.05,
      cpuTarget: 0.95,
      measure: (srv, d, onStart) => LOAD.keepAlive(srv.url, d, { connections: 50, cpu: clientCpu, onStart }),
    },
    {
      id: '1b',
      name: `10 pipelined, ${describe.keepAlive(50, 10)}`,
      target: 1.3,
      measure: (srv, d, onStart) => LOAD.keepAlive(srv.url, d, { connections: 50, cpu: clientCpu, pipeline: 10, onStart }),
    },
    {
      id: '1c',
      name: `no keep-alive, ${describe.http10(100)}`,
      target: 1.1,
      cpuTarget: 0.75,
      measure: (srv, d, onStart) => LOAD.http10(srv.url, d, { concurrency: 100, cpu: clientCpu, onStart }),
    },
  ];
  const detail = {};
  for (const c of cases) {
    const servers = await startAll([
      { label: `baseline 1w (${c.id})`, role: 'baseline', args: baselineArgs(1), cpu: serverCpu },
      { label: `demo 1w (${c.id})`, role: 'server', args: demoArgs(1), cpu: serverCpu },
      ...referenceSpecs(c.id, serverCpu),
    ]);
    try {
      for (const srv of servers) await c.measure(srv, WARM);
      const acc = await alternate(servers, (srv, onStart) => c.measure(srv, D, onStart));
      const [b, s] = servers.map((x) => acc.get(x));
      const rss = servers.map((x) => rssBytes(workerPids(x)[0]));
      const row = rpsRow(c.id, c.name, s, b, c.target);
      say(
        `  ${c.id} ${c.name}: server ${Math.round(row.server)} req/s, baseline ${Math.round(row.baseline)} req/s, ratio ${row.ratio?.toFixed(3)} ${row.pass ? 'PASS' : 'MISS'}`,
      );
      const refs = servers.slice(2).map((srv) => {
        const a = acc.get(srv);
        const r = rpsRow(c.id, `${c.name}: ${srv.role} (reference)`, a, b, null);
        r.target = 'reference';
        r.reference = srv.role;
        say(`  ${c.id} reference ${srv.role}: ${Math.round(r.server)} req/s, ratio ${r.ratio?.toFixed(3)} to the baseline`);
        return { role: srv.role, cpuWorker: median(a.cpuWorker), cpuTotal: median(a.cpuTotal) };
      });
      detail[c.id] = {
        cpuWorker: { server: median(s.cpuWorker), baseline: median(b.cpuWorker) },
        cpuTotal: { server: median(s.cpuTotal), baseline: median(b.cpuTotal) },
        rss: { server: rss[1], baseline: rss[0] },
        references: refs,
        name: c.name,
      };
    } finally {
      await stopAll(servers);
    }
  }
  // 1d: worker CPU per request and RSS after each run, beside the baseline's.
  for (const c of cases) {
    const d = detail[c.id];
    if (!d) continue;
    const q = ratio(d.cpuWorker.server, d.cpuWorker.baseline);
    addRow({
      item: '1d',
      case: `worker CPU/req, ${c.id} ${c.name.split(',')[0]}`,
      unit: 'us/req',
      server: round(d.cpuWorker.server, 2),
      baseline: round(d.cpuWorker.baseline, 2),
      ratio: round(q, 3),
      target: c.cpuTarget ? `<=${c.cpuTarget.toFixed(2)}` : 'report (lower is better)',
      pass: c.cpuTarget && q !== null ? q <= c.cpuTarget : null,
      total_us_per_req: { server: round(d.cpuTotal.server, 2), baseline: round(d.cpuTotal.baseline, 2) },
    });
    for (const ref of d.references) {
      addRow({
        item: '1d',
        // All processes: cluster's primary accepts and hands connections over.
        case: `CPU/req of all processes, ${c.id} ${c.name.split(',')[0]}: ${ref.role} (reference)`,
        unit: 'us/req',
        server: round(ref.cpuTotal, 2),
        baseline: round(d.cpuTotal.baseline, 2),
        ratio: round(ratio(ref.cpuTotal, d.cpuTotal.baseline), 3),
        target: 'reference',
        reference: ref.role,
        total_us_per_req: { server: round(ref.cpuTotal, 2), baseline: round(d.cpuTotal.baseline, 2) },
      });
    }
  }
  for (const c of cases) {
    const d = detail[c.id];
    if (!d) continue;
    addRow({
      item: '1d',
      case: `worker RSS after, ${c.id} ${c.name.split(',')[0]}`,
      unit: 'bytes',
      server: d.rss.server,
      baseline: d.rss.baseline,
      ratio: round(ratio(d.rss.server, d.rss.baseline), 3),
      target: 'report (lower is better)',
    });
  }
  results.items['1'] = detail;
}

// ---------------------------------------------------------------- item 2: accepts/s, 2 workers

async function item2() {
  say(`\n[2] two workers, unpinned: accepts/s without keep-alive (${LOAD.describe.close(50)})`);
  const servers = await startAll([{ label: 'baseline 2w', role: 'baseline', args: baselineArgs(2) }, ...MODES.map(modeSpec)]);
  try {
    const measure = (srv, d, onStart) => LOAD.close(srv.url, d, { connections: 50, onStart });
    const procs = (srv) => [srv.master, ...workerPids(srv)];
    const fds0 = servers.map((srv) => procs(srv).map(socketFds));
    for (const srv of servers) await measure(srv, WARM);
    const acc = await alternate(servers, (srv, onStart) => measure(srv, D, onStart));
    await sleep(500);
    // Socket fds still open once every connection has closed (a leak shows here).
    const grown = servers.map((srv, i) => procs(srv).map((p, k) => (socketFds(p) ?? 0) - (fds0[i][k] ?? 0)));
    servers.forEach((srv, i) => {
      if (grown[i].some((x) => x > 10))
        note(`${srv.label}: socket fds grew by ${grown[i].join(' / ')} (master / workers) over the runs`);
    });
    const b = acc.get(servers[0]);
    const detail = { baseline: { rps: median(b.rps), cpu_us_per_req_total: median(b.cpuTotal), fds_grown: grown[0] } };
    for (const srv of servers.slice(1)) {
      const s = acc.get(srv);
      const row = rpsRow('2', `accepts/s, 2 workers, ${srv.role}`, s, b, srv.role === 'shared' ? 0.9 : null);
      if (srv.role !== 'shared') row.target = 'report';
      row.total_us_per_req = { server: round(median(s.cpuTotal), 2), baseline: round(median(b.cpuTotal), 2) };
      detail[srv.role] = { rps: median(s.rps), cpu_us_per_req_total: median(s.cpuTotal), fds_grown: grown[servers.indexOf(srv)] };
      say(
        `  ${srv.role}: ${Math.round(row.server)} req/s vs baseline ${Math.round(row.baseline)}, ratio ${row.ratio?.toFixed(3)}` +
          ` (master+workers CPU ${row.total_us_per_req.server} vs ${row.total_us_per_req.baseline} us/req)`,
      );
    }
    results.items['2'] = detail;
  } finally {
    await stopAll(servers);
  }
}

// ---------------------------------------------------------------- item 3: connection distribution

async function waitForNoConns(port, pids, ms = 3000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const c = establishedByPid(port);
    if (pids.every((p) => !c.get(p))) return true;
    await sleep(50);
  }
  return false;
}

/** Records and prints why an item cannot run on this machine. */
function skip(id, why) {
  results.items[id] = { note: `skipped: ${why}` };
  say(`  skipped: ${why}`);
}

async function item3() {
  say(`\n[3] connection distribution: ${DIST_CONNS} long-lived connections to 2 workers, per dispatch mode`);
  if (!HAVE_SS) return skip('3', 'ss not found (it counts the connections per process with ss)');
  if (!HAVE_PROC) return skip('3', 'no /proc (it reads which process serves each socket there)');
  const specs = [...MODES.map(modeSpec), { label: 'baseline 2w', role: 'baseline', args: baselineArgs(2) }];
  const modes = {};
  results.items['3'] = {
    connections: DIST_CONNS,
    modes,
    method:
      'all connections opened at once, one keep-alive request answered on each; a worker serves a socket when the fd is ' +
      'registered in its epoll set (/proc/PID/fdinfo), and holds it when the fd is open (a passed handle may stay open in the sender)',
  };
  for (const spec of specs) {
    const [srv] = await startAll([spec]);
    try {
      const rounds = [];
      const procs = [srv.master, ...workerPids(srv)];
      const fds0 = procs.map(socketFds);
      for (let r = 0; r < ROUNDS; r++) {
        const workers = workerPids(srv);
        const hold = await holdConnections(srv.port, DIST_CONNS, { batch: DIST_CONNS, request: true });
        try {
          await sleep(100); // let a passed handle settle in its new worker
          const inodes = portInodes(srv.port);
          const own = workers.map((p) => socketOwnership(p, inodes));
          const master = socketOwnership(srv.master, inodes);
          const counts = own.map((o) => o.serving);
          const held = own.map((o) => o.held);
          const q = Math.max(...counts) / Math.min(...counts);
          rounds.push({
            counts,
            held,
            master_held: master.held,
            ratio: q,
            opened: hold.opened,
            failed: hold.failed,
            established: inodes.size,
          });
          note(
            `${spec.label} round ${r + 1}/${ROUNDS}: serving per worker ${counts.join(' / ')} (busiest/idlest ` +
              `${Number.isFinite(q) ? q.toFixed(2) : 'inf'}); fds held: workers ${held.join(' / ')}, master ${master.held}; ` +
              `opened ${hold.opened}, failed ${hold.failed}`,
          );
        } finally {
          await hold.close();
        }
        await waitForNoConns(srv.port, workers);
      }
      await sleep(300);
      // Socket fds still open after every client connection is gone: leaked copies.
      const leaked = procs.map((p, i) => (socketFds(p) ?? 0) - (fds0[i] ?? 0));
      const med = [...rounds].sort((a, b) => a.ratio - b.ratio)[(rounds.length - 1) >> 1];
      modes[spec.role] = {
        counts: med.counts,
        held: med.held,
        master_held: med.master_held,
        ratio: med.ratio,
        ratios: rounds.map((x) => x.ratio),
        rounds,
        leaked_fds: { master: leaked[0], workers: leaked.slice(1) },
      };
      if (leaked.some((x) => x > 0)) {
        note(
          `${spec.label}: ${leaked.reduce((a, b) => a + b, 0)} socket fds still open after all ${ROUNDS * DIST_CONNS} connections closed ` +
            `(master ${leaked[0]}, workers ${leaked.slice(1).join(' / ')})`,
        );
      }
    } finally {
      await stopServer(srv);
    }
  }
  const base = modes.baseline;
  const txt = (m) => (m ? `${m.counts.join('/')} (${Number.isFinite(m.ratio) ? m.ratio.toFixed(2) : 'inf'})` : '-');
  for (const role of MODES) {
    const m = modes[role];
    if (!m) continue;
    addRow({
      item: '3',
      case: `busiest/idlest of ${DIST_CONNS} conns, ${role}${role === 'hybrid' ? ' (default)' : ''}`,
      unit: 'ratio',
      server: round(m.ratio, 3),
      baseline: base ? round(base.ratio, 3) : null,
      serverText: txt(m),
      baselineText: txt(base),
      ratio: round(m.ratio, 3),
      target: role === 'hybrid' ? '<=1.25' : 'report',
      pass: role === 'hybrid' ? m.ratio <= 1.25 : null,
    });
  }
  const total = (m) => (m ? m.leaked_fds.master + m.leaked_fds.workers.reduce((a, b) => a + b, 0) : null);
  for (const role of MODES) {
    const m = modes[role];
    if (!m) continue;
    const n = total(m);
    addRow({
      item: '3',
      case: `socket fds left open after close, ${role}`,
      unit: 'count',
      server: n,
      baseline: total(base),
      serverText: `${n} (master ${m.leaked_fds.master})`,
      baselineText: base ? String(total(base)) : '-',
      target: '0 (leak check)',
      pass: n <= 0,
    });
  }
}

// ---------------------------------------------------------------- item 4: RSS per idle connection

async function idleRss(spec) {
  const [srv] = await startAll([spec]);
  try {
    const [worker] = workerPids(srv);
    await LOAD.keepAlive(srv.url, WARM, { connections: 10 }); // warm the code paths, as a serving worker is
    await sleep(300);
    const fds0 = socketFds(worker);
    const before = rssBytes(worker);
    const hold = await holdConnections(srv.port, IDLE_CONNS, { batch: 250, request: false, timeoutMs: 90000 });
    try {
      // Wait until the worker holds them all (or the count stops growing).
      let fds = socketFds(worker),
        last = -1,
        still = 0;
      const deadline = Date.now() + 30000;
      while (fds - fds0 < hold.opened && Date.now() < deadline && still < 20) {
        await sleep(100);
        last = fds;
        fds = socketFds(worker);
        still = fds === last ? still + 1 : 0;
      }
      await sleep(500);
      const after = rssBytes(worker);
      const accepted = socketFds(worker) - fds0;
      const r = {
        before,
        after,
        accepted,
        opened: hold.opened,
        failed: hold.failed,
        open_ms: hold.ms,
        client_fd_limit: hold.fileLimit,
        per_conn: (after - before) / IDLE_CONNS,
      };
      note(
        `${spec.label}: RSS ${(before / 1048576).toFixed(1)} -> ${(after / 1048576).toFixed(1)} MiB with ${accepted} accepted ` +
          `(${hold.opened} opened in ${hold.ms} ms, client fd limit ${hold.fileLimit}): ${Math.round(r.per_conn)} B/conn`,
      );
      return r;
    } finally {
      await hold.close();
    }
  } finally {
    await stopServer(srv);
  }
}

async function item4() {
  say(`\n[4] worker RSS with ${IDLE_CONNS} idle connections, 1 worker`);
  if (!HAVE_PROC) return skip('4', 'no /proc (it reads the worker RSS and socket fds there)');
  const runs = { server: [], baseline: [] };
  const specs = [
    { label: 'baseline 1w', role: 'baseline', args: baselineArgs(1) },
    { label: 'demo 1w', role: 'server', args: demoArgs(1) },
  ];
  for (let r = 0; r < ROUNDS; r++) {
    for (const spec of r % 2 === 0 ? specs : [...specs].reverse()) runs[spec.role].push(await idleRss(spec));
  }
  const pick = (xs) => median(xs.map((x) => x.per_conn));
  const s = pick(runs.server),
    b = pick(runs.baseline);
  const medRun = (xs, v) => xs.find((x) => x.per_conn === v) ?? xs[0];
  const ms = medRun(runs.server, s),
    mb = medRun(runs.baseline, b);
  const txt = (m, v) => `${Math.round(v)} B (${(m.before / 1048576).toFixed(1)}->${(m.after / 1048576).toFixed(1)} MiB)`;
  addRow({
    item: '4',
    case: `worker RSS per idle conn (${IDLE_CONNS})`,
    unit: 'bytes/conn',
    server: round(s),
    baseline: round(b),
    serverText: txt(ms, s),
    baselineText: txt(mb, b),
    ratio: round(ratio(s, b), 3),
    target: '<=1.00',
    pass: s <= b,
    samples: runs,
  });
  results.items['4'] = runs;
}

// ---------------------------------------------------------------- item 5: keep-alive by worker count

async function item5() {
  say(
    `\n[5] http keep-alive req/s by worker count, unpinned (${LOAD.describe.keepAlive(50)}; demo in its default dispatch mode)`,
  );
  // 2 workers: the default dispatch mode, and each other mode that keeps workers accepting for themselves.
  const runs = [
    [1, 'default', []],
    [2, 'default', []],
    ...['shared', ...(REUSEPORT ? ['reuseport'] : [])].map((m) => [2, m, ['--dispatch', m]]),
  ];
  for (const [n, mode, extra] of runs) {
    const servers = await startAll([
      { label: `baseline ${n}w`, role: 'baseline', args: baselineArgs(n) },
      { label: `demo ${n}w ${mode}`, role: 'server', args: demoArgs(n, extra) },
    ]);
    try {
      const measure = (srv, d, onStart) => LOAD.keepAlive(srv.url, d, { connections: 50, onStart });
      for (const srv of servers) await measure(srv, WARM);
      const acc = await alternate(servers, (srv, onStart) => measure(srv, D, onStart));
      const what = `http keep-alive, ${n} worker${n > 1 ? 's' : ''}${mode === 'default' ? '' : `, ${mode}`}`;
      const row = rpsRow('5', what, acc.get(servers[1]), acc.get(servers[0]), null);
      row.target = 'report';
      say(`  ${what}: ${Math.round(row.server)} vs ${Math.round(row.baseline)} req/s, ratio ${row.ratio?.toFixed(3)}`);
    } finally {
      await stopAll(servers);
    }
  }
}

// ---------------------------------------------------------------- item 6: WASM against JS framing

async function item6() {
  say('\n[6] WASM against JS framing: node bench/core.mjs --json');
  if (!existsSync(CORE)) {
    results.items['6'] = { note: 'not available (bench/core.mjs is missing)' };
    say('  not available (bench/core.mjs is missing)');
    return;
  }
  const args = [CORE, '--json'];
  if (opt.quick) args.push('--rounds=3');
  const res = await run(process.execPath, args, 300000);
  let rows = null;
  try {
    rows = JSON.parse(res.stdout.trim().split('\n').at(-1));
  } catch {
    rows = null;
  }
  if (res.code !== 0 || !Array.isArray(rows)) {
    const why = `not available (bench/core.mjs exited ${res.code}: ${(res.stderr.trim().split('\n').at(-1) ?? '').slice(0, 200)})`;
    results.items['6'] = { note: why };
    say(`  ${why}`);
    return;
  }
  results.items['6'] = { rows, command: `node bench/core.mjs ${args.slice(1).join(' ')}` };
  for (const r of rows) {
    say(
      `  ${r.case.padEnd(28)} chunk ${String(r.chunk).padStart(6)}  wasm/js ${r.ratio.toFixed(2)}` +
        `${r.target !== null ? `  target ${typeof r.target === 'number' ? `>= ${r.target}` : r.target} ${r.pass ? 'PASS' : 'MISS'}` : ''}`,
    );
  }
  const m = rows.filter((r) => r.variant === 'messages' && r.target !== null);
  addRow({
    item: '6',
    case: 'WASM/JS framing targets met (bench/core.mjs)',
    unit: 'count',
    serverText: `${m.filter((r) => r.pass).length}/${m.length}`,
    baselineText: '-',
    target: 'all',
    pass: m.every((r) => r.pass),
  });
}

// ---------------------------------------------------------------- item 8: messaging across workers

async function item8() {
  say('\n[8] messaging across workers: node bench/broadcast.mjs --json (2 workers, 1,000 connections, one broadcast per ms)');
  if (!HAVE_PROC) return skip('8', "no /proc (it reads the processes' CPU time there)");
  const args = [BROADCAST, '--json', '--duration', String(D), '--rounds', String(ROUNDS)];
  const res = await run(process.execPath, args, 600000);
  let out = null;
  try {
    out = JSON.parse(res.stdout.trim().split('\n').at(-1));
  } catch {
    out = null;
  }
  if (res.code !== 0 || out === null) {
    const why = `not available (bench/broadcast.mjs exited ${res.code}: ${(res.stderr.trim().split('\n').at(-1) ?? '').slice(0, 200)})`;
    results.items['8'] = { note: why };
    say(`  ${why}`);
    return;
  }
  results.items['8'] = { ...out, command: `node bench/broadcast.mjs ${args.slice(1).join(' ')}` };
  const b = out.broadcast;
  const sends = out.send;
  say(
    `  broadcast: ${Math.round(b.delivered_per_s)} lines/s delivered (${(b.delivered_fraction * 100).toFixed(1)}% of those sent); master ${b.master_us_per_broadcast.toFixed(1)} us CPU per broadcast`,
  );
  say(
    `  send: ${sends.local_us.toFixed(2)} us local, ${sends.cross_us.toFixed(2)} us to another worker's connection (all processes' CPU per message)`,
  );
  const row = (what, unit, server, text) =>
    addRow({
      item: '8',
      case: what,
      unit,
      server,
      baseline: null,
      serverText: text,
      baselineText: '-',
      target: 'report',
      pass: null,
    });
  row(
    'broadcast to 1,000 conns: lines delivered/s',
    'lines/s',
    Math.round(b.delivered_per_s),
    String(Math.round(b.delivered_per_s)),
  );
  row(
    'master CPU per broadcast relayed',
    'us',
    round(b.master_us_per_broadcast, 1),
    `${b.master_us_per_broadcast.toFixed(1)} us`,
  );
  addRow({
    item: '8',
    case: "CPU per send: another worker's connection vs own",
    unit: 'us',
    server: round(sends.cross_us, 2),
    baseline: round(sends.local_us, 2),
    serverText: `${sends.cross_us.toFixed(2)} us`,
    baselineText: `${sends.local_us.toFixed(2)} us (own)`,
    ratio: round(sends.ratio, 2),
    target: 'report',
    pass: null,
  });
}

// ---------------------------------------------------------------- item 7: TLS

/** The demo's --help text. */
function demoHelp() {
  try {
    return execFileSync(process.execPath, [DEMO, '--help'], { encoding: 'utf8', timeout: 10000 });
  } catch (err) {
    return String(err.stdout ?? '');
  }
}

/** A self-signed certificate for 127.0.0.1 in a temp dir: { dir, cert, key }. */
export function selfSignedCert() {
  const dir = mkdtempSync(join(os.tmpdir(), 'tcp-prefork-tls-'));
  const cert = join(dir, 'cert.pem'),
    key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
    { stdio: 'ignore', timeout: 30000 },
  );
  return { dir, cert, key };
}

/** The demo's TLS arguments, from the flags its --help lists. */
function tlsArgs(help, { cert, key }) {
  const flag = (re) => re.exec(help)?.[0];
  const certFlag = flag(/--(ssl[-_]cert[-_]file|tls[-_]cert|cert(?:[-_]file)?)\b/);
  const keyFlag = flag(/--(ssl[-_]key[-_]file|tls[-_]key|key(?:[-_]file)?)\b/);
  const args = /--tls(?![-\w])/.test(help) ? ['--tls'] : [];
  if (certFlag) args.push(certFlag, cert);
  if (keyFlag) args.push(keyFlag, key);
  return args;
}

/**
 * Keep-alive req/s of the demo over TLS (1 worker, pinned) against the bare
 * baseline over node:tls, and against the demo's own plain TCP.
 */
async function measureTls(help) {
  const pem = selfSignedCert();
  const [serverCpu, clientCpu] = pinned();
  try {
    const servers = await startAll([
      {
        label: 'baseline 1w tls',
        role: 'baseline-tls',
        args: baselineArgs(1, ['--tls-cert', pem.cert, '--tls-key', pem.key]),
        cpu: serverCpu,
      },
      { label: 'demo 1w tls', role: 'tls', args: demoArgs(1, tlsArgs(help, pem)), cpu: serverCpu },
      { label: 'demo 1w plain', role: 'plain', args: demoArgs(1), cpu: serverCpu },
    ]);
    try {
      for (const srv of servers.slice(0, 2)) {
        if (srv.scheme !== 'https') srv.url = srv.url.replace(/^http:/, 'https:');
      }
      const measure = (srv, d, onStart) => LOAD.keepAlive(srv.url, d, { connections: 50, cpu: clientCpu, onStart });
      for (const srv of servers) await measure(srv, WARM);
      const acc = await alternate(servers, (srv, onStart) => measure(srv, D, onStart));
      const [base, tls, plain] = servers.map((x) => acc.get(x));
      // Target: the TLS path (a tls.TLSSocket per connection, issue 10) keeps up with bare node:tls.
      const row = rpsRow('7', 'keep-alive over TLS, against bare node:tls', tls, base, TLS_TARGET);
      const cpu = [base, tls, plain].map((x) => median(x.cpuWorker));
      row.total_us_per_req = { server: round(cpu[1], 2), baseline: round(cpu[0], 2) };
      const own = rpsRow('7', 'keep-alive over TLS, against its own plain TCP', tls, plain, null);
      own.target = 'report';
      own.baselineText = `${Math.round(median(plain.rps)).toLocaleString('en-US')} (plain)`;
      const q = ratio(cpu[1], cpu[0]);
      addRow({
        item: '7',
        case: 'worker CPU/req over TLS, against bare node:tls',
        unit: 'us/req',
        server: round(cpu[1], 2),
        baseline: round(cpu[0], 2),
        ratio: round(q, 3),
        target: 'report (lower is better)',
      });
      results.items['7'] = {
        note:
          `TLS keep-alive req/s against bare node:tls: ${row.ratio?.toFixed(3)} (worker CPU ${cpu[1]?.toFixed(2)} against ` +
          `${cpu[0]?.toFixed(2)} us/req); against the demo's plain TCP: ${own.ratio?.toFixed(3)} (plain: ${cpu[2]?.toFixed(2)} us/req). ` +
          `1 worker ${PIN ? `pinned to CPU ${SERVER_CPU}` : 'unpinned'}, ` +
          `${LOAD.describe.keepAlive(50)} ${PIN ? `pinned to CPU ${CLIENT_CPU}` : 'unpinned'}, self-signed RSA 2048`,
        ratio: row.ratio,
        ratio_to_plain: own.ratio,
        cpu_us_per_req: { tls: cpu[1], baseline_tls: cpu[0], plain: cpu[2] },
      };
      say(`  ${results.items['7'].note}`);
    } finally {
      await stopAll(servers);
    }
  } finally {
    rmSync(pem.dir, { recursive: true, force: true });
  }
}

async function item7() {
  say('\n[7] TLS overhead');
  const help = demoHelp();
  if (!/--(tls|ssl)(?![\w])/.test(help)) {
    results.items['7'] = { note: 'TLS: not available yet (build/src/demo.js --help lists no --tls or --tls-cert flag)' };
    say('  TLS: not available yet');
    return;
  }
  await measureTls(help);
}

// ---------------------------------------------------------------- main

function machine() {
  const cpus = os.cpus();
  let affinity = null;
  try {
    affinity = execFileSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8', timeout: 2000 })
      .trim()
      .split(': ')
      .at(-1);
  } catch {
    // no taskset
  }
  let sha = null;
  try {
    sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 2000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a checkout
  }
  return {
    date: new Date().toISOString(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? '?',
    affinity,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    memory_bytes: os.totalmem(),
    ...versions(),
    nginx: nginxVersion(),
    git: sha,
    loadavgStart: os.loadavg().map((x) => round(x, 2)),
    loadavgEnd: null,
  };
}

/**
 * Picks the load generator (--load, else wrk and ab when both are on PATH,
 * else autocannon) and whether to pin (taskset); sets LOAD, PIN and HAVE_SS
 * and returns what results.config.load records. Throws when a required tool is missing.
 */
function setup(m) {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: run npm run build`);
  const have = {
    wrk: hasCommand('wrk', ['--version']),
    ab: hasCommand('ab', ['-V']),
    taskset: hasCommand('taskset', ['-V']),
    ss: hasCommand('ss', ['-V']),
  };
  const missing = ['wrk', 'ab'].filter((t) => !have[t]);
  let kind = opt.load;
  let why;
  if (kind === 'wrk') {
    if (missing.length)
      throw new Error(
        `--load wrk: ${missing.join(' and ')} not on PATH (install wrk and apache2-utils, or use --load autocannon)`,
      );
    why = '--load wrk';
  } else if (kind === 'autocannon') {
    why = '--load autocannon';
  } else if (missing.length === 0) {
    kind = 'wrk';
    why = 'wrk and ab are on PATH; --load autocannon to use autocannon';
  } else {
    kind = 'autocannon';
    why = `${missing.join(' and ')} not on PATH, so autocannon runs the same cases`;
  }
  if (kind === 'autocannon' && !m.autocannon)
    throw new Error('autocannon is not installed: run npm install (it is a devDependency)');
  LOAD = generator(kind);
  PIN = have.taskset && m.cpus >= 2;
  HAVE_SS = have.ss;
  const warnings = [];
  if (!PIN) {
    warnings.push(
      `${have.taskset ? `only ${m.cpus} CPU` : 'taskset not found'}: items 1 and 7 run unpinned (server and client share ` +
        'the CPUs, so req/s follows the scheduler more), and the noisy-run check is off',
    );
  }
  if (!HAVE_SS && ITEMS.has('3')) warnings.push('ss not found: item 3 (connection distribution) is skipped');
  if (!HAVE_PROC) {
    warnings.push('no /proc: worker CPU per request and RSS (item 1d) are not measured, and items 3 and 4 are skipped');
  }
  return {
    generator: kind,
    command: kind === 'wrk' ? `${m.wrk} with ${m.ab}` : m.autocannon,
    why,
    pinned: PIN,
    taskset: have.taskset,
    ss: have.ss,
    warnings,
  };
}

function writeOutputs() {
  mkdirSync(opt.out, { recursive: true });
  writeFileSync(join(opt.out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(opt.out, 'results.md'), markdown(results));
  writeFileSync(join(opt.out, 'chart.svg'), svgChart(results));
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAllSync();
    cleanupScripts();
    process.exit(130);
  });
}
process.on('exit', () => killAllSync());

async function main() {
  const t0 = Date.now();
  results.machine = machine();
  const m = results.machine;
  let load;
  try {
    load = setup(m);
  } catch (err) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  }
  results.config.load = load;
  say(
    `tcp-prefork bench: ${m.cpus} CPUs, Node ${m.node}, load average ${m.loadavgStart.join(' ')}; ` +
      `${ROUNDS} round(s) of ${D} s, items ${[...ITEMS].join(',')}`,
  );
  say(`load generator: ${load.command} (${load.why})`);
  if (load.generator === 'autocannon')
    say('note: autocannon saturates sooner than wrk: compare ratios across generators, never absolute req/s');
  for (const w of load.warnings) say(`warning: ${w}`);
  if (m.loadavgStart[0] > m.cpus * 0.5) {
    results.machine.warning = `load average ${m.loadavgStart[0]} on ${m.cpus} CPUs at start: other processes compete for the CPUs, so req/s figures are noisy (CPU time per request is steadier)`;
    say(`warning: ${results.machine.warning}`);
  }
  const items = { 1: item1, 2: item2, 3: item3, 4: item4, 5: item5, 6: item6, 7: item7, 8: item8 };
  for (const [id, fn] of Object.entries(items)) {
    if (!ITEMS.has(id)) continue;
    try {
      await fn();
    } catch (err) {
      results.errors.push({ item: id, message: String(err?.stack ?? err) });
      say(`  item ${id} failed: ${err?.message ?? err}`);
    }
  }
  results.machine.loadavgEnd = os.loadavg().map((x) => round(x, 2));
  results.config.seconds = round((Date.now() - t0) / 1000, 1);
  cleanupScripts();
  say(
    `\nResults (medians of ${ROUNDS} round(s) of ${D} s; ratio = server/baseline; load generator ${load.command}; ` +
      `${results.config.seconds} s, load ${results.machine.loadavgEnd.join(' ')} at end)\n`,
  );
  say(textTable(results.rows));
  if (results.items['6']?.note) say(`\nWASM vs JS framing: ${results.items['6'].note}`);
  if (results.items['7']?.note) say(`${results.items['7'].note}`);
  writeOutputs();
  say(`\nwrote ${['results.json', 'results.md', 'chart.svg'].map((f) => join(opt.out, f)).join(', ')}`);
  if (results.errors.length) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`);
  killAllSync();
  process.exit(1);
});
