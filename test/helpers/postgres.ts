// Test helper: a real PostgreSQL server from Debian's binaries, in a temporary directory, for one test
// process (so parallel test files never share a server or a port).
//
//   const pg = await startPostgres();               // initdb + pg_ctl start, listening on 127.0.0.1:PORT
//   const url = await pg.createDatabase();          // postgres://kura@127.0.0.1:PORT/kura_<random>, a fresh database
//   ...
//   await pg.stop();                                // pg_ctl stop, removes the directory
//
// Binaries: $KURA_PG_BIN, else initdb on PATH or in /usr/local/bin, else the newest /usr/lib/postgresql/*/bin
// (scripts/ensure-tools.sh installs Debian's `postgresql` when there is none). initdb refuses to run as
// root, so as root the server runs as `nobody` in a directory that user owns. Tuned for tests, not for
// durability: fsync=off.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface PostgresServer {
  /** 127.0.0.1 port the server listens on. */
  port: number;
  /** Connection URL of a database on this server (default: the maintenance database `postgres`). */
  url(database?: string): string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** The server's log so far (for failure messages). */
  log(): string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

const SUPERUSER = 'kura';

function isExecutable(p: string): boolean {
  return spawnSync('test', ['-x', p]).status === 0;
}

/** The directory holding initdb, pg_ctl and postgres of one PostgreSQL version, or undefined. */
export function findPostgresBin(): string | undefined {
  const candidates: string[] = [];
  if (process.env.KURA_PG_BIN) candidates.push(process.env.KURA_PG_BIN);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(dir);
  candidates.push('/usr/local/bin');
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    /* no Debian packages */
  }
  for (const dir of candidates) {
    const initdb = join(dir, 'initdb');
    if (!existsSync(initdb) || !isExecutable(initdb)) continue;
    // Debian links only some tools onto PATH: the real directory has them all, of one version.
    const real = dirname(realpathSync(initdb));
    if (['pg_ctl', 'postgres'].every((t) => isExecutable(join(real, t)))) return real;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface RunAs {
  uid?: number;
  gid?: number;
}

function unprivilegedUser(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  return { uid: Number.isInteger(uid) && uid > 0 ? uid : 65534, gid: Number.isInteger(gid) && gid > 0 ? gid : 65534 };
}

function run(cmd: string, args: string[], as: RunAs, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // Node drops privileges itself (setgid, then setuid) when uid/gid are given; cwd must be readable by that user.
    const child = spawn(cmd, args, { ...as, env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

// Servers still running when the process exits (a test that threw before its after hook): stopped at once.
const running = new Set<{ dir: string; data: string }>();
process.once('exit', () => {
  for (const s of running) {
    try {
      const pid = Number(readFileSync(join(s.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT'); // immediate shutdown
    } catch {
      /* already gone */
    }
    rmSync(s.dir, { recursive: true, force: true });
  }
});

export async function startPostgres(): Promise<PostgresServer> {
  const bin = findPostgresBin();
  if (!bin)
    throw new Error('PostgreSQL binaries not found (initdb, pg_ctl, postgres): run scripts/ensure-tools.sh as root, or set KURA_PG_BIN');
  const as = unprivilegedUser();
  const dir = mkdtempSync(join(tmpdir(), 'kura-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (as.uid !== undefined) chownSync(dir, as.uid, as.gid!);
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C', TZ: 'UTC', PGTZ: 'UTC' };
  const entry = { dir, data };
  running.add(entry);
  const fail = (what: string, out: string): never => {
    let log = '';
    try {
      log = readFileSync(logFile, 'utf8');
    } catch {
      /* none */
    }
    running.delete(entry);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${what}\n${out}\n${log}`.trim());
  };

  // -N: no fsync of the new cluster; trust auth: the server listens on loopback and a private socket dir only.
  const init = await run(join(bin, 'initdb'), ['-D', data, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '-N'], as, env);
  if (init.code !== 0) fail(`initdb failed (${init.code})`, init.out);

  let port = 0;
  // A free port can be taken by another process between probing and binding: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const opts = [
      `-c listen_addresses=127.0.0.1`,
      `-c port=${port}`,
      `-c unix_socket_directories=${dir}`,
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c shared_buffers=16MB',
      '-c max_connections=100',
      '-c log_min_messages=warning',
      '-c log_min_error_statement=panic',
    ].join(' ');
    const start = await run(join(bin, 'pg_ctl'), ['start', '-w', '-t', '30', '-D', data, '-l', logFile, '-o', opts], as, env);
    if (start.code === 0) break;
    if (attempt >= 3) fail(`pg_ctl start failed (${start.code})`, start.out);
  }

  const url = (database = 'postgres') => `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`;
  let stopped = false;
  return {
    port,
    url,
    async createDatabase(name = `kura_${randomBytes(6).toString('hex')}`) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    log() {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await run(join(bin, 'pg_ctl'), ['stop', '-w', '-m', 'fast', '-D', data], as, env);
      running.delete(entry);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
