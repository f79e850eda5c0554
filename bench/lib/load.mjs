// The load generators: wrk (keep-alive, pipelined, Connection: close) and
// ApacheBench (HTTP/1.0, a new connection per request). Every run is bounded
// by a kill timer; results come back as plain objects.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** Runs a command with a hard time limit (SIGKILL by PID); resolves { code, stdout, stderr }. */
export function run(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
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
  };
}
