// The control socket's permissions (issue 8): only the server's user and root
// may drive a master. Real processes; the second user is `nobody` (65534),
// through setpriv.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { alive, cleanup, ROOT, spawnProc, startFixture, until } from './helpers/proc.js';

const run = promisify(execFile);
const CLI = join(ROOT, 'build/src/cli.js');
const NOBODY = 65534;
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

const made: string[] = [];

/**
 * A node binary that nobody may execute: process.execPath when every directory
 * above it lets others through (a system node), else a copy in a 0755 scratch
 * directory (CI runs Node 22 and 24 from ~/.npm under a 0700 /root, where
 * nobody could not even start node, and a refusal test would pass for the
 * wrong reason).
 */
let nobodyNodePath: string | null = null;
function nobodyNode(): string {
  if (nobodyNodePath !== null && existsSync(nobodyNodePath)) return nobodyNodePath;
  let open = (statSync(process.execPath).mode & 0o001) !== 0;
  for (let d = dirname(process.execPath); open; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) open = false;
    if (d === dirname(d)) break;
  }
  if (open) return (nobodyNodePath = process.execPath);
  const dir = mkdtempSync(join(tmpdir(), 'tp-node-'));
  chmodSync(dir, 0o755);
  const copy = join(dir, 'node');
  copyFileSync(process.execPath, copy);
  chmodSync(copy, 0o755);
  return (nobodyNodePath = copy);
}
afterAll(() => {
  if (nobodyNodePath !== null && nobodyNodePath !== process.execPath)
    rmSync(dirname(nobodyNodePath), { recursive: true, force: true });
});
afterEach(async () => {
  await cleanup();
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory that nobody can read (pid files, client scripts) or, with `open`, also write. */
function scratch(open = false): string {
  const d = mkdtempSync(join(tmpdir(), 'tp-control-'));
  chmodSync(d, open ? 0o1777 : 0o755);
  made.push(d);
  return d;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(argv: string[], env: Record<string, string> = {}): Promise<Ran> {
  const [cmd, ...args] = argv;
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 20_000, cwd: ROOT, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const cli = (args: string[], opts: { wrap?: string[]; env?: Record<string, string> } = {}) =>
  exec([...(opts.wrap ?? []), opts.wrap === AS_NOBODY ? nobodyNode() : process.execPath, CLI, ...args], opts.env);

/**
 * A client script, readable by nobody, that sends one command: through askControl (how the
 * command finds the socket), or, with a path, raw over that socket. Prints { ok, result } or { code, message }.
 */
function clientScript(): string {
  const file = join(scratch(), 'client.mjs');
  writeFileSync(
    file,
    `import net from 'node:net';
const [pid, cmd, path] = process.argv.slice(2);
const done = (o) => { process.stdout.write(JSON.stringify(o) + '\\n'); process.exit(o.ok ? 0 : 3); };
if (path) {
  const s = net.connect(path, () => s.write(JSON.stringify({ cmd }) + '\\n'));
  let buf = '';
  s.on('data', (d) => (buf += d));
  s.on('end', () => done({ ok: true, result: buf }));
  s.on('error', (e) => done({ ok: false, code: e.code, message: e.message }));
} else {
  const { askControl } = await import(${JSON.stringify(join(ROOT, 'build/src/control.js'))});
  askControl(Number(pid), cmd).then((result) => done({ ok: true, result }), (e) => done({ ok: false, code: e.code, message: e.message }));
}
`,
  );
  chmodSync(file, 0o644);
  return file;
}

const sockDir = (uid: number, base = tmpdir()) => join(base, `tcp-prefork-${uid}`);
const mode = (p: string) => lstatSync(p).mode & 0o7777;

async function serve(settings: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  const dir = scratch();
  const pidFile = join(dir, 'server.pid');
  const fx = await startFixture({ settings: { process_number: 2, pid_file: pidFile, ...settings } }, { env });
  return { ...fx, pidFile };
}

describe('the control socket', () => {
  it('as root: a 0600 socket in a 0700 directory of root while running; status works, stop stops, nothing is left', async () => {
    const { proc, pidFile } = await serve();
    const dir = sockDir(0);
    const sock = join(dir, `${proc.pid}.sock`);
    const d = lstatSync(dir);
    expect(d.isDirectory() && !d.isSymbolicLink()).toBe(true);
    expect(d.uid).toBe(0);
    expect(mode(dir)).toBe(0o700);
    const s = lstatSync(sock);
    expect(s.isSocket()).toBe(true);
    expect(s.uid).toBe(0);
    expect(mode(sock)).toBe(0o600);
    const st = await cli(['status', '--pid-file', pidFile, '--json']);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout).workers).toHaveLength(2);
    const stop = await cli(['stop', '--pid-file', pidFile]);
    expect(stop.code).toBe(0);
    expect((await proc.exited).code).toBe(0);
    expect(existsSync(sock)).toBe(false);
    // The directory goes too, unless another master of root (another test file) still uses it.
    if (existsSync(dir)) expect(readdirSync(dir)).not.toContain(`${proc.pid}.sock`);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('with its own TMPDIR, a normal stop leaves neither socket nor directory behind', async () => {
    const base = scratch();
    const { proc, pidFile } = await serve({}, { TMPDIR: base });
    expect(readdirSync(base)).toEqual(['tcp-prefork-0']);
    expect(readdirSync(sockDir(0, base))).toEqual([`${proc.pid}.sock`]);
    expect((await cli(['stop', '--pid-file', pidFile], { env: { TMPDIR: base } })).code).toBe(0);
    expect((await proc.exited).code).toBe(0);
    expect(readdirSync(base)).toEqual([]);
  });

  it('as nobody: status, stats, stop and reload are refused (EACCES), the master keeps running and answers root', async () => {
    const { proc, pidFile, workers } = await serve();
    const client = clientScript();
    const sock = join(sockDir(0), `${proc.pid}.sock`);
    for (const cmd of ['status', 'stop', 'reload']) {
      const r = await cli([cmd, '--pid-file', pidFile], { wrap: AS_NOBODY });
      expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).not.toBe(0);
      expect(r.stderr).toMatch(/permission denied on the control socket .*only the server's user \(uid 0\) or root may drive it/);
    }
    for (const cmd of ['stop', 'reload', 'stats', 'ping']) {
      const r = await exec([...AS_NOBODY, nobodyNode(), client, String(proc.pid), cmd]);
      expect(r.code, `${cmd}: ${r.stdout}${r.stderr}`).toBe(3);
      const out = JSON.parse(r.stdout);
      expect(out.code).toBe('EACCES');
      expect(out.message).toMatch(/only the server's user \(uid 0\) or root may drive it/);
      // Raw, straight to the socket file: the kernel refuses the connect.
      const raw = await exec([...AS_NOBODY, nobodyNode(), client, String(proc.pid), cmd, sock]);
      expect(raw.code, `${cmd} raw: ${raw.stdout}${raw.stderr}`).toBe(3);
      expect(JSON.parse(raw.stdout).code).toBe('EACCES');
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(proc.pid)).toBe(true);
    expect(workers.every(alive)).toBe(true);
    expect(proc.count('workerStart')).toBe(2); // no reload happened
    expect(proc.count('shutdown')).toBe(0);
    const st = await cli(['status', '--pid-file', pidFile, '--json']);
    expect(st.code).toBe(0);
    expect(
      JSON.parse(st.stdout)
        .workers.map((w: { pid: number }) => w.pid)
        .sort(),
    ).toEqual([...workers].sort());
    // Root's askControl works too.
    const asRoot = await exec([process.execPath, client, String(proc.pid), 'ping']);
    expect(JSON.parse(asRoot.stdout).result.pid).toBe(proc.pid);
  });

  it("root drives a server run by nobody: the socket is found through /proc/<pid>'s owner", async () => {
    const dir = scratch(true);
    const pidFile = join(dir, 'server.pid');
    const { proc } = await startFixture(
      { settings: { process_number: 1, pid_file: pidFile } },
      { wrap: AS_NOBODY, node: nobodyNode() },
    );
    const sock = join(sockDir(NOBODY), `${proc.pid}.sock`);
    expect(lstatSync(sockDir(NOBODY)).uid).toBe(NOBODY);
    expect(mode(sockDir(NOBODY))).toBe(0o700);
    expect(lstatSync(sock).uid).toBe(NOBODY);
    expect(mode(sock)).toBe(0o600);
    const st = await cli(['status', '--pid-file', pidFile, '--json']);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).workers).toHaveLength(1);
    expect((await cli(['stop', '--pid-file', pidFile])).code).toBe(0);
    expect((await proc.exited).code).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it("a server with another TMPDIR than the command's is found through /proc/net/unix", async () => {
    const base = scratch();
    const { proc, pidFile } = await serve({}, { TMPDIR: base });
    expect(lstatSync(join(sockDir(0, base), `${proc.pid}.sock`)).isSocket()).toBe(true);
    const st = await cli(['status', '--pid-file', pidFile, '--json']);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).workers).toHaveLength(2);
    expect((await cli(['stop', '--pid-file', pidFile])).code).toBe(0);
    expect((await proc.exited).code).toBe(0);
    expect(readdirSync(base)).toEqual([]);
  });

  describe('an unsafe directory: the master runs without a control socket and says why on stderr', () => {
    async function refused(prepare: (dir: string) => void, why: RegExp) {
      const base = scratch();
      const dir = sockDir(0, base);
      prepare(dir);
      const before = readdirSync(dir).sort();
      const { proc, pidFile, port } = await serve({}, { TMPDIR: base });
      expect(port).toBeGreaterThan(0);
      expect(await until(() => /control socket disabled/.test(proc.stderr))).toBe(true);
      expect(proc.stderr).toMatch(why);
      expect(proc.stderr).toContain(`cannot drive master ${proc.pid}`);
      expect(readdirSync(dir).sort()).toEqual(before); // no socket was made there
      // The command refuses, with a clear message, and never talks to what is there.
      const st = await cli(['status', '--pid-file', pidFile], { env: { TMPDIR: base } });
      expect(st.code).not.toBe(0);
      expect(st.stderr).toMatch(why);
      expect(alive(proc.pid)).toBe(true);
      // Signals still stop it.
      proc.kill('SIGTERM');
      expect((await proc.exited).code).toBe(0);
    }

    it("a directory owned by another user (nobody's)", async () => {
      await refused((dir) => {
        mkdirSync(dir, { mode: 0o700 });
        chownSync(dir, NOBODY, NOBODY);
      }, /tcp-prefork-0 is owned by uid 65534, not by (this|the) server's uid 0/);
    });

    it('a symlink at the directory path (to a directory of root)', async () => {
      const target = scratch();
      chmodSync(target, 0o700);
      await refused((dir) => symlinkSync(target, dir), /tcp-prefork-0 is a symlink/);
      expect(readdirSync(target)).toEqual([]);
    });
  });

  it('a TMPDIR anyone may write to without the sticky bit', async () => {
    const base = scratch();
    chmodSync(base, 0o777);
    const { proc } = await serve({}, { TMPDIR: base });
    expect(await until(() => /control socket disabled/.test(proc.stderr))).toBe(true);
    expect(proc.stderr).toContain(`${base} is writable by anyone without the sticky bit`);
    expect(readdirSync(base)).toEqual([]);
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
  });

  it('a master removes the sockets that masters of ours killed with SIGKILL left behind', async () => {
    const base = scratch();
    const dir = sockDir(0, base);
    mkdirSync(dir, { mode: 0o700 });
    // A process that listens where a master would, then dies without cleaning up.
    const dead = spawnProc(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(require('node:path').join(${JSON.stringify(dir)}, process.pid + '.sock'), () => console.log('up'))`,
    ]);
    expect(await until(() => dead.stdout.includes('up'))).toBe(true);
    dead.kill('SIGKILL');
    await dead.exited;
    const stale = join(dir, `${dead.pid}.sock`);
    expect(lstatSync(stale).isSocket()).toBe(true);
    const { proc } = await serve({}, { TMPDIR: base });
    expect(await until(() => !existsSync(stale))).toBe(true);
    expect(readdirSync(dir)).toEqual([`${proc.pid}.sock`]);
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('a directory of ours with a loose mode is made 0700 again', async () => {
    const base = scratch();
    const dir = sockDir(0, base);
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const { proc, pidFile } = await serve({}, { TMPDIR: base });
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, `${proc.pid}.sock`))).toBe(0o600);
    expect((await cli(['status', '--pid-file', pidFile], { env: { TMPDIR: base } })).code).toBe(0);
    proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});
