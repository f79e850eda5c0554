// A line-based chat room on tcp-prefork: `node examples/chat.mjs [port]`,
// then `nc 127.0.0.1 9502` from a few terminals. Two workers; each keeps the
// nicknames of the connections it serves, and every line goes to everyone
// through server.broadcast, whichever worker serves them.
import { Server } from 'tcp-prefork';

const server = new Server('127.0.0.1', Number(process.argv[2] ?? 9502));
server.set('process_number', 2);
server.set('protocol', 'eof'); // one line per message
server.set('package_eof', '\n'); // what nc and telnet send (a trailing \r is dropped below)
server.set('package_max_length', 4096);
// Clients in turn on each worker, so even two of them show messages crossing workers.
server.set('dispatch_mode', 'round_robin');
server.set('log_level', 'error');

/** This worker's connections: id -> nickname. */
const nicks = new Map();
const text = (message) => message.toString('utf8').replace(/\r?\n$/, '');

server.bind('start', ({ port, workers }) => console.log(`chat on 127.0.0.1:${port} (workers ${workers.join(', ')})`));

server.bind('accept', (remote) => {
  const nick = `guest${remote.id.split('-').pop()}`;
  nicks.set(remote.id, nick);
  server.send(`* welcome, ${nick}; /nick NAME to change your name, /quit to leave\n`);
  server.broadcast(`* ${nick} joined\n`, { except: remote });
});

server.bind('receive', (message, remote) => {
  const line = text(message);
  const nick = nicks.get(remote.id);
  if (line.startsWith('/nick ')) {
    const name = line.slice(6).trim().slice(0, 32) || nick;
    nicks.set(remote.id, name);
    server.broadcast(`* ${nick} is now ${name}\n`);
  } else if (line === '/quit') {
    server.send('* bye\n');
    server.close();
  } else if (line !== '') {
    server.broadcast(`${nick}: ${line}\n`, { except: remote });
  }
});

server.bind('close', (remote) => {
  const nick = nicks.get(remote.id);
  nicks.delete(remote.id);
  server.broadcast(`* ${nick} left\n`);
});

await server.run();
