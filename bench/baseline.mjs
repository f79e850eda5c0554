// The bare baseline the server is measured against: node:net, one master
// passing its listening handle to N child_process workers, indexOf('\r\n\r\n')
// framing and a fixed reply, one write per chunk. Same reply bytes and the
// same keep-alive rules as the demo server. With --tls-cert and --tls-key, the
// workers serve the same over node:tls (a tls.Server fed the passed handle's
// connections), the TLS baseline of `npm run bench` item 7.
//   node bench/baseline.mjs [--host 127.0.0.1] [--port 0] [--workers 1] [--tls-cert F --tls-key F]
// Prints "baseline: http://HOST:PORT/ master pid P, worker pids A, B" once every worker listens.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

const KEEP = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nContent-Length: 10\r\n\r\n0123456789',
);
const CLOSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789',
);

if (process.env.BASELINE_WORKER) {
  const replies = [null, KEEP];
  for (let i = 2; i <= 64; i++) replies[i] = Buffer.concat(Array(i).fill(KEEP));
  process.on('message', (m, server) => {
    if (m !== 'server') return;
    const serve = (sock) => {
      sock.setNoDelay(true);
      let buf = null;
      sock.on('data', (d) => {
        buf = buf ? Buffer.concat([buf, d]) : d;
        let pos = 0;
        let n = 0;
        let close = false;
        for (;;) {
          const end = buf.indexOf('\r\n\r\n', pos);
          if (end < 0) break;
          const line = buf.indexOf('\r\n', pos);
          if (buf[line - 1] === 0x30) {
            // HTTP/1.0: close unless keep-alive
            const k = buf.indexOf('eep-', pos);
            close = k < 0 || k > end;
          } else {
            const c = buf.indexOf('close', pos);
            close = c >= 0 && c < end;
          }
          n++;
          pos = end + 4;
          if (close) break;
        }
        buf = pos < buf.length ? buf.subarray(pos) : null;
        if (n === 0) return;
        if (close) {
          sock.end(n === 1 ? CLOSE : Buffer.concat([replies[n - 1] ?? Buffer.concat(Array(n - 1).fill(KEEP)), CLOSE]));
          return;
        }
        sock.write(replies[n] ?? Buffer.concat(Array(n).fill(KEEP)));
      });
      sock.on('error', () => {});
    };
    if (process.env.BASELINE_TLS_CERT) {
      const secure = tls.createServer(
        { cert: readFileSync(process.env.BASELINE_TLS_CERT), key: readFileSync(process.env.BASELINE_TLS_KEY) },
        serve,
      );
      secure.on('tlsClientError', () => {});
      server.on('connection', (sock) => secure.emit('connection', sock));
    } else {
      server.on('connection', serve);
    }
    process.send('ready');
  });
  process.on('disconnect', () => process.exit(0));
} else {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      workers: { type: 'string', default: '1' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
    },
  });
  const tlsEnv = values['tls-cert'] ? { BASELINE_TLS_CERT: values['tls-cert'], BASELINE_TLS_KEY: values['tls-key'] } : {};
  const scheme = values['tls-cert'] ? 'https' : 'http';
  const server = net.createServer();
  server.listen({ host: values.host, port: Number(values.port), backlog: 511 }, () => {
    const port = server.address().port; // before close(), after which address() is null
    const n = Number(values.workers);
    const kids = [];
    let ready = 0;
    for (let i = 0; i < n; i++) {
      const child = fork(new URL(import.meta.url).pathname, [], { env: { ...process.env, ...tlsEnv, BASELINE_WORKER: '1' } });
      kids.push(child);
      child.on('message', (m) => {
        if (m !== 'ready') return;
        if (++ready === n) {
          // The workers have their copies; the master stops accepting.
          server.close();
          process.stdout.write(
            `baseline: ${scheme}://${values.host}:${port}/ master pid ${process.pid}, worker pids ${kids.map((k) => k.pid).join(', ')}\n`,
          );
        }
      });
      child.send('server', server);
    }
    const stop = () => {
      for (const k of kids) k.kill('SIGTERM');
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
