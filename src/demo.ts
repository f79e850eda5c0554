#!/usr/bin/env node
// `npm start`: php-server's benchmark server. Every HTTP request gets 200 with
// the body 0123456789. Keep-alive and pipelining come from the core's http
// framing; HTTP/1.0 without keep-alive, or `Connection: close`, gets its
// reply and then the connection closes (ApacheBench without -k needs this).
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Server, type KnownSettings } from './index.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '9501' },
    workers: { type: 'string', default: String(availableParallelism()) },
    protocol: { type: 'string', default: 'http' },
    dispatch: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'pid-file': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    'usage: npm start -- [--host 127.0.0.1] [--port 9501] [--workers N] [--protocol http|eof|length|raw] [--dispatch hybrid|shared|round_robin]\n                 [--tls-cert cert.pem --tls-key key.pem] [--pid-file PATH]\n',
  );
  process.exit(0);
}

const KEEP = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nContent-Length: 10\r\n\r\n0123456789',
);
const CLOSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789',
);

const server = new Server(values.host, Number(values.port));
try {
  server.set('process_number', Number(values.workers));
  server.set('protocol', values.protocol as KnownSettings['protocol']);
  if (values.dispatch !== undefined) server.set('dispatch_mode', values.dispatch as KnownSettings['dispatch_mode']);
  if (values['tls-cert'] !== undefined) server.set('ssl_cert_file', values['tls-cert']);
  if (values['tls-key'] !== undefined) server.set('ssl_key_file', values['tls-key']);
  if (values['pid-file'] !== undefined) server.set('pid_file', values['pid-file']);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
server.set('master_name', 'tcp-prefork demo master');
server.set('worker_name', 'tcp-prefork demo worker');

server.bind('receive', (_message, remote) => {
  if (remote.keepAlive === false) {
    server.send(CLOSE);
    server.close();
  } else {
    server.send(KEEP);
  }
});

server.bind('start', ({ address, port, workers }) => {
  const scheme = server.get('ssl_cert_file') ? 'https' : 'http';
  process.stdout.write(
    `demo: ${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}/ master pid ${process.pid}, worker pids ${workers.join(', ')}\n`,
  );
});

server.run().catch((err: Error & { code?: string }) => {
  process.stderr.write(`demo: ${err.code ?? 'error'}: ${err.message}\n`);
  process.exit(1);
});
