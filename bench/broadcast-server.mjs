// The server bench/broadcast.mjs measures: tcp-prefork with 2 workers, eof
// framing, connections placed in turn (round_robin) so each worker serves
// half. A control connection's lines start the work in the worker serving it:
//   ID            -> "id <its connection id>"
//   B <ms> <n>    -> broadcast "m\n" every <ms> ms, n times, then "done <n>"
//   S <id> <n>    -> send "m\n" n times to connection <id> (of either worker), then "done <n>"
import { Server } from '../build/src/index.js';

const server = new Server('127.0.0.1', 0);
server.set('process_number', 2);
server.set('protocol', 'eof');
server.set('package_eof', '\n');
server.set('dispatch_mode', 'round_robin');
server.set('log_level', 'silent');

server.bind('start', ({ port, workers }) => process.stdout.write(`${JSON.stringify({ port, workers })}\n`));

server.bind('receive', (message, remote) => {
  const [cmd, a, b] = message.toString().trim().split(' ');
  if (cmd === 'ID') {
    server.send(`id ${remote.id}\n`);
  } else if (cmd === 'B') {
    const every = Number(a);
    const n = Number(b);
    let sent = 0;
    const tick = setInterval(() => {
      server.broadcast('m\n', { except: remote });
      if (++sent === n) {
        clearInterval(tick);
        server.send(`done ${sent}\n`, remote);
      }
    }, every);
  } else if (cmd === 'S') {
    const n = Number(b);
    for (let i = 0; i < n; i++) server.send('m\n', a);
    server.send(`done ${n}\n`);
  }
});

await server.run();
