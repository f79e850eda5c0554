// One autocannon run in a process of its own (so it can be pinned with
// taskset like wrk and ab, and its CPU never competes with the bench's):
//
//   node bench/lib/autocannon-run.mjs '{"url":"http://127.0.0.1:PORT/","connections":50,"duration":3,
//     "pipelining":10,"headers":{},"timeout":2,"oneRequestPerConnection":false,"batchWrites":true}'
//
// Prints `ACSTART` as the load begins (loading Node and autocannon takes a
// few hundred ms, which the bench leaves out of its CPU counters), then one
// line, `ACJSON {...}`: autocannon's own counters (requests, duration,
// errors, timeouts, non2xx, latency), so nothing depends on its
// human-readable output. Exits 2 when autocannon is not installed.
//
// Two optional hooks bring autocannon closer to wrk and ab. Both wrap
// autocannon's Client#_doRequest (checked against 9.0.0); a run whose hook
// did not apply reports `hooks: false` and bench/lib/load.mjs fails it.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * With `Connection: close` autocannon 9 writes the next request into the
 * connection the server is closing as soon as the response is parsed, and
 * opens a new one only when the FIN arrives: every connection then carries a
 * second, wasted request that the server reads or resets. wrk and ab send
 * nothing more once a response says close; with this hook neither does
 * autocannon: the next request waits for the new connection it opens.
 */
function oneRequestPerConnection(client) {
  let closing = null;
  client.on('headers', (info) => {
    if (info && info.shouldKeepAlive === false) closing = client.conn;
  });
  const doRequest = client._doRequest;
  client._doRequest = function (...args) {
    if (this.conn !== undefined && this.conn === closing) return;
    return doRequest.apply(this, args);
  };
}

/**
 * autocannon keeps `pipelining` requests in flight with one write per
 * request; wrk's pipeline script writes them as one batch. Corking the
 * socket until the next tick sends the requests started by one read of
 * responses (all of them, when the server answers a batch in one write) as
 * one write, as wrk does.
 */
function batchWrites(client) {
  const doRequest = client._doRequest;
  client._doRequest = function (...args) {
    const conn = this.conn;
    if (conn && !conn.writableCorked) {
      conn.cork();
      process.nextTick(() => conn.uncork());
    }
    return doRequest.apply(this, args);
  };
}

async function main() {
  const o = JSON.parse(process.argv[2] ?? '{}');
  let autocannon;
  try {
    autocannon = require('autocannon');
  } catch {
    process.stderr.write('autocannon is not installed: run npm install (it is a devDependency)\n');
    process.exit(2);
  }
  let hooks = null;
  const opts = {
    url: o.url,
    connections: o.connections ?? 50,
    duration: o.duration ?? 3,
    pipelining: o.pipelining ?? 1,
    headers: o.headers ?? {},
    timeout: o.timeout ?? 2,
    workers: 0, // one thread, as wrk -t1
  };
  if (o.oneRequestPerConnection || o.batchWrites) {
    opts.setupClient = (client) => {
      const ok = typeof client._doRequest === 'function';
      hooks = hooks !== false && ok;
      if (!ok) return;
      if (o.oneRequestPerConnection) oneRequestPerConnection(client);
      if (o.batchWrites) batchWrites(client);
    };
  }
  process.stdout.write('ACSTART\n');
  const res = await new Promise((resolve, reject) => {
    const inst = autocannon(opts, (err, r) => (err ? reject(err) : resolve(r)));
    // The bench's own time limit kills this process; SIGTERM ends the run early with what it has.
    process.once('SIGTERM', () => inst.stop());
  });
  const out = {
    requests: res.requests.total,
    sent: res.requests.sent,
    duration_s: res.duration,
    errors: res.errors,
    timeouts: res.timeouts,
    non2xx: res.non2xx,
    mismatches: res.mismatches,
    resets: res.resets,
    lat_p50_ms: res.latency.p50,
    lat_p99_ms: res.latency.p99,
    hooks,
  };
  process.stdout.write(`ACJSON ${JSON.stringify(out)}\n`);
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`autocannon-run: ${err?.stack ?? err}\n`);
  process.exit(1);
});
