#!/usr/bin/env node
// The `tcp-prefork` command: drives a running server through its pid file,
// or starts a user script.
//   tcp-prefork status --pid-file PATH [--json] [--watch [SECONDS]]
//   tcp-prefork stop   --pid-file PATH [--timeout SECONDS]
//   tcp-prefork reload --pid-file PATH
//   tcp-prefork start  SCRIPT [--pid-file PATH] [-- ARGS...]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { askControl } from './control.js';
import type { ServerStats } from './stats.js';

const USAGE = `usage:
  tcp-prefork status --pid-file PATH [--json] [--watch [SECONDS]]
  tcp-prefork stop   --pid-file PATH [--timeout SECONDS]
  tcp-prefork reload --pid-file PATH
  tcp-prefork start  SCRIPT [--pid-file PATH] [-- ARGS...]
`;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the pid file and checks that a tcp-prefork master answers for that pid. */
async function master(pidFile: string | undefined): Promise<number> {
  if (!pidFile) throw new CliError('--pid-file PATH is required', 2);
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch (err) {
    throw new CliError(
      `no pid file at ${pidFile} (${(err as NodeJS.ErrnoException).code}): is the server running with pid_file set?`,
    );
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0)
    throw new CliError(`pid file ${pidFile} holds no pid: ${JSON.stringify(text.trim().slice(0, 40))}`);
  if (!alive(pid)) throw new CliError(`stale pid file ${pidFile}: process ${pid} is not running`);
  try {
    await askControl(pid, 'ping');
  } catch (err) {
    // Another user's server (only its user or root may drive it), or an unsafe control directory: say so.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'ERR_CONTROL_SOCKET') throw new CliError((err as Error).message);
    throw new CliError(`stale pid file ${pidFile}: process ${pid} does not answer as a tcp-prefork master`);
  }
  return pid;
}

const COLUMNS: [string, (w: Record<string, unknown>) => string][] = [
  ['worker', (w) => String(w.worker ?? 'total')],
  ['pid', (w) => String(w.pid ?? '')],
  ['conns', (w) => String(w.connections)],
  ['accepted', (w) => String(w.accepted)],
  ['closed', (w) => String(w.closed)],
  ['aborted', (w) => String(w.aborted)],
  ['refused', (w) => String(w.refused)],
  ['messages', (w) => String(w.messages)],
  ['bytes_in', (w) => String(w.bytes_in)],
  ['bytes_out', (w) => String(w.bytes_out)],
  [
    'errors',
    (w) =>
      Object.entries(w.errors as Record<string, number>)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
  ],
  ['respawns', (w) => String(w.respawns)],
  ['rss_mb', (w) => ((w.rss as number) / 1048576).toFixed(1)],
  ['uptime_s', (w) => (w.uptime as number).toFixed(0)],
  // A worker that did not answer in time (stopped, or busy) has no counters.
  ['state', (w) => (w.answered === false ? 'not answering' : w.worker === undefined ? '' : 'ok')],
];

/** A worker that did not answer shows its id, pid and state, and `-` for each counter. */
const silentCell = (i: number) => i >= 2 && i < COLUMNS.length - 1;

function table(stats: ServerStats): string {
  const rows = [...stats.workers, stats.total] as unknown as Record<string, unknown>[];
  const cells = [
    COLUMNS.map(([h]) => h),
    ...rows.map((r) => COLUMNS.map(([, f], i) => (r.answered === false && silentCell(i) ? '-' : f(r)))),
  ];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n') + '\n';
}

async function status(pidFile: string | undefined, json: boolean, watch: number): Promise<void> {
  const pid = await master(pidFile);
  for (;;) {
    const stats = (await askControl(pid, 'stats')) as ServerStats;
    if (json) {
      process.stdout.write(JSON.stringify(stats) + '\n');
      return;
    }
    if (watch > 0) process.stdout.write('\x1b[2J\x1b[H');
    const t = stats.total;
    // Older masters have no not_answering / master_refused.
    const silent = t.not_answering ? `, ${t.not_answering} not answering (not counted in the total)` : '';
    const refused = t.master_refused ? `, ${t.master_refused} refused by the master` : '';
    process.stdout.write(
      `tcp-prefork master pid ${pid}, ${t.workers} workers${silent}, ${t.connections} connections${refused}\n` + table(stats),
    );
    if (watch <= 0) return;
    await new Promise((r) => setTimeout(r, watch * 1000));
    if (!alive(pid)) throw new CliError(`master ${pid} has exited`);
  }
}

async function stop(pidFile: string | undefined, timeout: number): Promise<void> {
  const pid = await master(pidFile);
  process.kill(pid, 'SIGTERM');
  const end = Date.now() + timeout * 1000;
  while (alive(pid)) {
    if (Date.now() > end) throw new CliError(`master ${pid} still running after ${timeout} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(`stopped master ${pid}\n`);
}

async function reload(pidFile: string | undefined): Promise<void> {
  const pid = await master(pidFile);
  process.kill(pid, 'SIGUSR1');
  process.stdout.write(`rolling reload of master ${pid} started\n`);
}

async function start(script: string | undefined, pidFile: string | undefined, rest: string[]): Promise<void> {
  if (!script) throw new CliError('start needs a SCRIPT', 2);
  const file = resolve(script);
  if (pidFile) process.env.TCP_PREFORK_PID_FILE = resolve(pidFile);
  // The script runs as if started with `node SCRIPT ARGS`, so its workers fork it directly.
  process.argv = [process.argv[0], file, ...rest];
  await import(pathToFileURL(file).href);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...args] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const dash = args.indexOf('--');
  const own = dash >= 0 ? args.slice(0, dash) : args;
  const rest = dash >= 0 ? args.slice(dash + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      'pid-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      watch: { type: 'string' },
      timeout: { type: 'string', default: '30' },
    },
    strict: cmd !== 'start',
  });
  const pidFile = values['pid-file'] as string | undefined;
  switch (cmd) {
    case 'status': {
      const watch = values.watch === undefined ? 0 : Number(values.watch || 1);
      return status(
        pidFile,
        values.json as boolean,
        Number.isFinite(watch) && watch > 0 ? watch : values.watch !== undefined ? 1 : 0,
      );
    }
    case 'stop':
      return stop(pidFile, Number(values.timeout));
    case 'reload':
      return reload(pidFile);
    case 'start':
      return start(positionals[0], pidFile, [...positionals.slice(1), ...rest]);
    default:
      throw new CliError(`unknown command "${cmd}"\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`tcp-prefork: ${err.message}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
});
