// Holds many long-lived TCP connections to a server, from a process of its own.
//
// As a library: holdConnections(port, count, opts) starts the client and
// resolves once every connection is open (and, with `request`, has had its
// one keep-alive reply); the result's close() resets them and ends the client.
// As a child: node conns.mjs <port> <count> <batch> <request 0|1> [host]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

function openFileLimit() {
  try {
    return Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))[1]);
  } catch {
    return null;
  }
}

/** Opens one connection; with `request` waits for the reply's body. Resolves the socket, or null on failure. */
function openOne(host, port, request) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let done = false;
    let got = '';
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!ok) sock.destroy();
      resolve(ok ? sock : null);
    };
    const timer = setTimeout(() => finish(false), 10000);
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
    sock.on('connect', () => {
      if (!request) return finish(true);
      sock.setEncoding('latin1');
      sock.on('data', (d) => {
        got += d;
        if (got.endsWith('0123456789')) finish(true);
      });
      sock.write(REQUEST);
    });
  });
}

async function child([port, count, batch, request, host = '127.0.0.1']) {
  const want = Number(count);
  const socks = [];
  let failed = 0;
  const t0 = Date.now();
  for (let i = 0; i < want; i += Number(batch)) {
    const n = Math.min(Number(batch), want - i);
    const got = await Promise.all(Array.from({ length: n }, () => openOne(host, Number(port), request === '1')));
    for (const s of got)
      if (s) socks.push(s);
      else failed++;
  }
  process.send({ type: 'open', opened: socks.length, failed, ms: Date.now() - t0, fileLimit: openFileLimit() });
  process.on('message', (m) => {
    if (m !== 'close') return;
    // RST, not FIN: no TIME_WAIT on the client's ephemeral ports.
    for (const s of socks) s.resetAndDestroy ? s.resetAndDestroy() : s.destroy();
    setTimeout(() => process.exit(0), 50);
  });
  process.on('disconnect', () => process.exit(0));
}

/**
 * Opens `count` connections to host:port from a child process, `batch` at a
 * time; raises the child's soft open-file limit first if it is below count + 100.
 */
export function holdConnections(port, count, { batch = 250, request = false, host = '127.0.0.1', timeoutMs = 60000 } = {}) {
  const need = count + 100;
  const script = fileURLToPath(import.meta.url);
  const sh = `n=$(ulimit -n); if [ "$n" != unlimited ] && [ "$n" -lt ${need} ]; then ulimit -n ${need} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; fi; exec "$0" "$@"`;
  const kid = spawn(
    'sh',
    ['-c', sh, process.execPath, script, String(port), String(count), String(batch), request ? '1' : '0', host],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const kill = () => {
    try {
      kid.kill('SIGKILL');
    } catch {
      // gone
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`connection client: not open within ${timeoutMs} ms`));
    }, timeoutMs);
    kid.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`connection client exited (${code})`));
    });
    kid.on('message', (m) => {
      if (m?.type !== 'open') return;
      clearTimeout(timer);
      kid.removeAllListeners('exit');
      resolve({
        ...m,
        pid: kid.pid,
        close: () =>
          new Promise((res) => {
            const t = setTimeout(() => {
              kill();
              res();
            }, 5000);
            kid.on('exit', () => {
              clearTimeout(t);
              res();
            });
            if (kid.connected) kid.send('close');
            else kill();
          }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) child(process.argv.slice(2));
