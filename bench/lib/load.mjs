// The load generators: wrk (keep-alive, pipelined, Connection: close) with
// ApacheBench (HTTP/1.0, a new connection per request), or autocannon for the
// same cases where wrk and ab are missing (bench/lib/autocannon-run.mjs, in a
// process of its own). Every run is bounded by a kill timer; results come
// back as plain objects.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const AUTOCANNON_RUN = join(dirname(fileURLToPath(import.meta.url)), 'autocannon-run.mjs');

// A done() hook prints wrk's own counters as one JSON line, so nothing depends
// on its human-readable summary; with `pipeline` the request function sends
// that many requests per write (wrk counts each response).
const DONE = `
done = function(s, lat, req)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"lat_p50_us":%d,"lat_p99_us":%d}\\n',
    s.requests, s.duration, s.bytes, s.errors.connect, s.errors.read, s.errors.write, s.errors.status, s.errors.timeout,
    lat:percentile(50), lat:percentile(99)))
end
`;
const pipelineScript = (n) =>
  `
init = function(args)
  local r = {}
  for i = 1, ${n} do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function()
  return req
end
` + DONE;

let dir = null;
function scriptFile(name, text) {
  dir ??= mkdtempSync(join(tmpdir(), 'tcp-prefork-bench-'));
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}
export function cleanupScripts() {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
}

/**
 * Runs a command with a hard time limit (SIGKILL by PID); resolves { code, stdout, stderr }.
 * `onStdout(all)` sees the output so far after each chunk.
 */
export function run(cmd, args, timeoutMs, onStdout = null) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      onStdout?.(stdout);
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(err) });
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? sig, stdout, stderr });
    });
  });
}

const pin = (cpu, cmd, args) =>
  cpu === null || cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];

/**
 * wrk against url for `duration` seconds: { rps, requests, seconds, errors, lat_p50_us, lat_p99_us }.
 * opts: connections, threads, cpu (pin the client), pipeline (requests per write), header.
 */
export async function wrk(url, duration, { connections = 50, threads = 1, cpu = null, pipeline = 0, header = null } = {}) {
  const script = pipeline > 1 ? scriptFile(`pipeline${pipeline}.lua`, pipelineScript(pipeline)) : scriptFile('done.lua', DONE);
  const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '--timeout', '2s', '-s', script];
  if (header) args.push('-H', header);
  args.push(url);
  const [cmd, argv] = pin(cpu, 'wrk', args);
  const res = await run(cmd, argv, (duration + 15) * 1000);
  const m = /^WRKJSON (.*)$/m.exec(res.stdout);
  if (res.code !== 0 || !m) throw new Error(`wrk failed (${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
  const j = JSON.parse(m[1]);
  const seconds = j.duration_us / 1e6;
  return {
    rps: j.requests / seconds,
    requests: j.requests,
    seconds,
    errors: { connect: j.connect, read: j.read, write: j.write, status: j.status, timeout: j.timeout },
    lat_p50_us: j.lat_p50_us,
    lat_p99_us: j.lat_p99_us,
  };
}

/** ApacheBench: -c concurrency, -n requests (HTTP/1.0, no keep-alive), stopping after timeLimit s at most. */
export async function ab(url, requests, { concurrency = 100, cpu = null, timeLimit = 30 } = {}) {
  // -t before -n: -t sets the time limit (and a default -n), -n then sets the count.
  const args = ['-q', '-r', '-s', '5', '-t', String(timeLimit), '-c', String(concurrency), '-n', String(requests), url];
  const [cmd, argv] = pin(cpu, 'ab', args);
  const res = await run(cmd, argv, (timeLimit + 15) * 1000);
  const num = (re) => {
    const m = re.exec(res.stdout);
    return m ? Number(m[1]) : null;
  };
  const complete = num(/^Complete requests:\s+(\d+)/m);
  const seconds = num(/^Time taken for tests:\s+([\d.]+)/m);
  if (res.code !== 0 || complete === null || !seconds)
    throw new Error(`ab failed (${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
  return {
    rps: complete / seconds,
    requests: complete,
    seconds,
    errors: { failed: num(/^Failed requests:\s+(\d+)/m) ?? 0, non2xx: num(/^Non-2xx responses:\s+(\d+)/m) ?? 0 },
  };
}

/**
 * autocannon (bench/lib/autocannon-run.mjs) against url for `duration` seconds:
 * { rps, requests, seconds, errors, lat_p50_us, lat_p99_us }. opts: connections,
 * cpu (pin the client), pipelining (requests in flight per connection, written
 * in batches as wrk's pipeline script does), headers, oneRequestPerConnection
 * (send nothing more on a connection once a response says close, as wrk and
 * ab do), onStart (called as the load begins, once the new Node process has
 * loaded autocannon).
 */
export async function autocannon(
  url,
  duration,
  { connections = 50, cpu = null, pipelining = 1, headers = {}, oneRequestPerConnection = false, onStart = null } = {},
) {
  const batchWrites = pipelining > 1;
  const spec = { url, connections, duration, pipelining, headers, timeout: 2, oneRequestPerConnection, batchWrites };
  const [cmd, argv] = pin(cpu, process.execPath, [AUTOCANNON_RUN, JSON.stringify(spec)]);
  let started = false;
  const res = await run(cmd, argv, (duration + 15) * 1000, (out) => {
    if (started || !/^ACSTART$/m.test(out)) return;
    started = true;
    onStart?.();
  });
  const m = /^ACJSON (.*)$/m.exec(res.stdout);
  if (res.code !== 0 || !m) throw new Error(`autocannon failed (${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
  const j = JSON.parse(m[1]);
  if ((oneRequestPerConnection || batchWrites) && j.hooks !== true)
    throw new Error('autocannon: the hooks of bench/lib/autocannon-run.mjs did not apply (an autocannon other than 9.x?)');
  const timeouts = j.timeouts ?? 0;
  return {
    rps: j.requests / j.duration_s,
    requests: j.requests,
    seconds: j.duration_s,
    errors: { errors: (j.errors ?? 0) - timeouts, timeout: timeouts, non2xx: j.non2xx ?? 0, mismatch: j.mismatches ?? 0 },
    lat_p50_us: j.lat_p50_ms * 1000,
    lat_p99_us: j.lat_p99_ms * 1000,
  };
}

/** True when `cmd` runs (found on PATH); `args` should make it exit at once. */
export function hasCommand(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 3000 });
  } catch (err) {
    if (err.code === 'ENOENT') return false;
  }
  return true;
}

/** The installed autocannon's version (node_modules), or null. */
export function autocannonVersion() {
  try {
    const require = createRequire(import.meta.url);
    return JSON.parse(readFileSync(require.resolve('autocannon/package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

const CLOSE = { Connection: 'close' };

/**
 * The cases the items use, for one load generator ('wrk': wrk and ab; or
 * 'autocannon'): each resolves { rps, requests, seconds, errors }, and
 * `describe` names the command in the results. opts.onStart, when given, is
 * called as the load begins (autocannon only: wrk and ab start at once).
 * - keepAlive: `connections` keep-alive connections, `pipeline` requests per write (wrk) or in flight (autocannon);
 * - close: a new connection per request, HTTP/1.1 `Connection: close` (accepts/s);
 * - http10: ab's HTTP/1.0 without keep-alive at `concurrency`; autocannon has
 *   no HTTP/1.0, so it sends HTTP/1.1 with `Connection: close`, one request per connection.
 */
export function generator(kind) {
  if (kind === 'autocannon') {
    return {
      kind,
      keepAlive: (url, d, { connections = 50, cpu = null, pipeline = 0, onStart = null } = {}) =>
        autocannon(url, d, { connections, cpu, pipelining: Math.max(1, pipeline), onStart }),
      close: (url, d, { connections = 50, cpu = null, onStart = null } = {}) =>
        autocannon(url, d, { connections, cpu, headers: CLOSE, oneRequestPerConnection: true, onStart }),
      http10: (url, d, { concurrency = 100, cpu = null, onStart = null } = {}) =>
        autocannon(url, d, { connections: concurrency, cpu, headers: CLOSE, oneRequestPerConnection: true, onStart }),
      describe: {
        keepAlive: (c, p) => `autocannon -c${c}${p > 1 ? ` -p${p}` : ''}`,
        close: (c) => `autocannon -c${c} -H Connection=close`,
        http10: (c) => `autocannon -c${c} -H Connection=close`,
      },
    };
  }
  // ab takes a request count: size it from the last rate against the same url so a run lasts about d seconds.
  const est = new Map();
  return {
    kind,
    keepAlive: (url, d, { connections = 50, cpu = null, pipeline = 0 } = {}) => wrk(url, d, { connections, cpu, pipeline }),
    close: (url, d, { connections = 50, cpu = null } = {}) => wrk(url, d, { connections, cpu, header: 'Connection: close' }),
    http10: async (url, d, { concurrency = 100, cpu = null } = {}) => {
      const n = Math.max(2000, Math.round((est.get(url) ?? 10000) * d));
      const res = await ab(url, n, { concurrency, cpu, timeLimit: d * 3 + 5 });
      est.set(url, res.rps);
      return res;
    },
    describe: {
      keepAlive: (c) => `wrk -t1 -c${c}`,
      close: (c) => `wrk -t1 -c${c} -H 'Connection: close'`,
      http10: (c) => `ab -c${c}`,
    },
  };
}

export function versions() {
  const v = (cmd, args, re) => {
    try {
      const out = execFileSync(cmd, args, { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'pipe'] });
      return re.exec(out)?.[1] ?? out.split('\n')[0];
    } catch (err) {
      const out = String(err.stdout ?? '') + String(err.stderr ?? '');
      return re.exec(out)?.[1] ?? null;
    }
  };
  return {
    wrk: v('wrk', ['--version'], /^(wrk \S+)/m),
    ab: v('ab', ['-V'], /^This is (ApacheBench, Version \S+)/m),
    autocannon: autocannonVersion() && `autocannon ${autocannonVersion()}`,
  };
}
