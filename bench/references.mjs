#!/usr/bin/env node
// Reference servers for `npm run bench`: what a user might pick instead of
// tcp-prefork, serving php-server's benchmark (every HTTP request gets
// 0123456789). They are rows to compare against, not targets.
//
//   node bench/references.mjs cluster [--host 127.0.0.1] [--port 0] [--workers 1]
//     node:http with node:cluster (the primary accepts and hands connections
//     round-robin to the workers, cluster's default on Linux).
//   node bench/references.mjs nginx [--host 127.0.0.1] [--port 0] [--workers 1]
//     Debian's nginx with worker_processes N, `return 200 "0123456789"`, no
//     access log, keep-alive without a request cap, in a temp prefix.
//
// Each prints the ready line bench/lib/proc.mjs reads:
//   "<kind>: http://HOST:PORT/ master pid P, worker pids A, B"
// and stops its server on SIGTERM or SIGINT.
import cluster from 'node:cluster';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const BODY = '0123456789';

/** The nginx binary on PATH or in /usr/sbin, or null. */
export function nginxPath() {
  for (const p of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    if (p && existsSync(join(p, 'nginx'))) return join(p, 'nginx');
  }
  return null;
}

/** "nginx/1.22.1", or null without nginx. */
export function nginxVersion() {
  const bin = nginxPath();
  if (!bin) return null;
  try {
    // nginx -v writes to stderr.
    const out = execFileSync(bin, ['-v'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    return /nginx\/[\d.]+/.exec(out)?.[0] ?? 'nginx';
  } catch (err) {
    return /nginx\/[\d.]+/.exec(String(err.stderr ?? ''))?.[0] ?? null;
  }
}

function args() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      workers: { type: 'string', default: '1' },
    },
  });
  return { kind: positionals[0], host: values.host, port: Number(values.port), workers: Math.max(1, Number(values.workers)) };
}

// ---------------------------------------------------------------- node:http + cluster

function clusterPrimary({ host, port, workers }) {
  cluster.setupPrimary({ args: ['cluster-worker', '--host', host, '--port', String(port)] });
  const kids = [];
  let listening = 0;
  let bound = port;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    kids.push(w);
    w.on('listening', (addr) => {
      bound = addr.port;
      if (++listening === workers) {
        process.stdout.write(
          `cluster: http://${host}:${bound}/ master pid ${process.pid}, worker pids ${kids.map((k) => k.process.pid).join(', ')}\n`,
        );
      }
    });
  }
  const stop = () => {
    for (const k of kids) k.process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function clusterWorker({ host, port }) {
  // cluster shares one port among workers: with port 0 the primary picks it once.
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 60000;
  server.listen(port, host);
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------- nginx

/** A free port on host (nginx cannot listen on port 0 and report it). */
function freePort(host) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function nginx({ host, port, workers }) {
  const bin = nginxPath();
  if (!bin) {
    process.stderr.write('references: nginx not found (Debian: apt-get install nginx)\n');
    process.exit(2);
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'tcp-prefork-nginx-'));
  const p = port || (await freePort(host));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 20000; }
worker_rlimit_nofile 40000;
http {
  access_log off;
  server_tokens off;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen ${host}:${p} backlog=511;
    location / {
      default_type text/plain;
      return 200 "${BODY}";
    }
  }
}
`,
  );
  const child = spawn(bin, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = () => {
    try {
      child.kill('SIGTERM'); // nginx: fast shutdown
    } catch {
      // gone
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  child.on('exit', (code, sig) => {
    cleanup();
    process.exit(code ?? (sig ? 1 : 0));
  });
  // Ready once the port answers and the workers are there (children of nginx's master).
  const deadline = Date.now() + 10000;
  for (;;) {
    const kids = childrenOf(child.pid);
    if (kids.length >= workers && (await answers(host, p))) {
      process.stdout.write(`nginx: http://${host}:${p}/ master pid ${child.pid}, worker pids ${kids.join(', ')}\n`);
      return;
    }
    if (Date.now() > deadline) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8').slice(-500) : '';
      process.stderr.write(`references: nginx not ready within 10 s ${log}\n`);
      stop();
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function childrenOf(pid) {
  const out = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const s = readFileSync(`/proc/${pid}/task/${t}/children`, 'latin1').trim();
      for (const c of s.split(/\s+/)) if (c) out.push(Number(c));
    }
  } catch {
    // gone, or no /proc
  }
  return out;
}

function answers(host, port) {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.setTimeout(1000);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

// ---------------------------------------------------------------- main

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = args();
  if (a.kind === 'cluster-worker') clusterWorker(a);
  else if (a.kind === 'cluster') clusterPrimary(a);
  else if (a.kind === 'nginx') await nginx(a);
  else {
    process.stderr.write('usage: node bench/references.mjs cluster|nginx [--host H] [--port P] [--workers N]\n');
    process.exit(2);
  }
}
