/**
 * `stalkd healthcheck [--pid N]`: the container image's health check, independent of the flags the
 * container was started with. It reads the running stalkd's own command line and environment from
 * /proc (PID 1 in a container; else the first process running the stalkd CLI), parses them with
 * the CLI's definitions, and asks that process:
 *   - metrics on (`--metrics-port` > 0): GET /readyz — healthy on 200 (node: listening and not
 *     draining; proxy: topology loaded and a node reachable);
 *   - metrics off: `stats` over its protocol port (TLS when it serves TLS) — healthy on an `OK`
 *     that does not say `draining: true`.
 * Exit 0 healthy, 1 not (one line on stdout says why either way, as Docker keeps it in `inspect`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { basename } from 'node:path';
import tls from 'node:tls';
import type { Command } from 'commander';
import { endpointText, localAddressFor, socketTarget } from '../net/endpoint';
import { activatedBy, LISTEN_FDS_START, listeningAddressOfFd } from '../net/inherited-socket';
import { type ParsedCommandLine, parseCommandLine } from './parse-only';

/** Within Docker's default 30 s and the image's 3 s HEALTHCHECK timeout. */
const CHECK_TIMEOUT_MS = 2500;
const ROLES = new Set(['node', 'proxy']);

export interface StalkdProcess {
  pid: number;
  /** The arguments after the CLI script (`node -l 0.0.0.0 …`). */
  args: string[];
  env: Record<string, string>;
}

function readNulList(path: string): string[] {
  return readFileSync(path, 'latin1')
    .split('\0')
    .filter((s) => s !== '')
    .map((s) => Buffer.from(s, 'latin1').toString('utf8'));
}

/** The stalkd role process `pid` runs, or undefined when it runs something else. */
export function readStalkdProcess(pid: number): StalkdProcess | undefined {
  let argv: string[];
  try {
    argv = readNulList(`/proc/${pid}/cmdline`);
  } catch {
    return undefined;
  }
  const script = argv.findIndex((a, i) => i > 0 && /^(main\.js|stalkd)$/.test(basename(a)));
  const args = script > 0 ? argv.slice(script + 1) : [];
  if (!ROLES.has(args[0] ?? '')) return undefined;
  const env: Record<string, string> = {};
  for (const entry of readNulList(`/proc/${pid}/environ`)) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { pid, args, env };
}

/** PID 1 if it is stalkd (a container), else the lowest pid running a stalkd role. */
export function findStalkdProcess(): StalkdProcess | undefined {
  const first = readStalkdProcess(1);
  if (first) return first;
  const pids = readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => p !== process.pid)
    .sort((a, b) => a - b);
  for (const pid of pids) {
    const found = readStalkdProcess(pid);
    if (found) return found;
  }
  return undefined;
}

function askReadyz(host: string, port: number): Promise<{ ok: boolean; why: string }> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: localAddressFor(host), port, path: '/readyz', timeout: CHECK_TIMEOUT_MS },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ ok: res.statusCode === 200, why: `/readyz ${res.statusCode}: ${body.trim()}` }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve({ ok: false, why: `/readyz on port ${port}: ${err.message}` }));
  });
}

function askStats(host: string, port: number, useTls: boolean): Promise<{ ok: boolean; why: string }> {
  return new Promise((resolve) => {
    const target = socketTarget(localAddressFor(host), port);
    const where = `stats on ${endpointText(host, port)}`;
    // A local liveness probe of the process itself: its certificate names are not what is checked.
    const socket = useTls ? tls.connect({ ...target, rejectUnauthorized: false }) : net.connect(target);
    let reply = '';
    const done = (ok: boolean, why: string) => {
      socket.destroy();
      resolve({ ok, why });
    };
    socket.setTimeout(CHECK_TIMEOUT_MS, () => done(false, `${where}: no answer`));
    socket.on(useTls ? 'secureConnect' : 'connect', () => socket.write('stats\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      const m = /^OK (\d+)\r\n/.exec(reply);
      if (!m) {
        if (reply.includes('\r\n')) done(false, `${where}: ${reply.split('\r\n')[0]}`);
        return;
      }
      if (reply.length < m[0].length + Number(m[1]) + 2) return;
      const draining = /^draining: true$/m.test(reply);
      done(!draining, `${where}: ${draining ? 'draining' : 'ok'}`);
    });
    socket.on('error', (err) => done(false, `${where}: ${err.message}`));
  });
}

/**
 * Asks the process described by `parsed` whether it is ready. `inherited` is the address of the
 * socket systemd passed it (its -l/-p then mean nothing).
 */
export function checkHealth(
  parsed: ParsedCommandLine,
  inherited?: { host: string; port: number },
): Promise<{ ok: boolean; why: string }> {
  const metricsPort = Number(parsed.valueOf('--metrics-port'));
  if (metricsPort > 0) return askReadyz(String(parsed.valueOf('--metrics-host')), metricsPort);
  const useTls = parsed.subcommand === 'proxy' && Boolean(parsed.options.tlsCert);
  if (inherited) return askStats(inherited.host, inherited.port, useTls);
  return askStats(String(parsed.valueOf('-l')), Number(parsed.valueOf('-p')), useTls);
}

/** Where a socket-activated process listens (its fd 3), or undefined when it was not activated. */
function inheritedAddress(target: StalkdProcess): { host: string; port: number } | undefined {
  if (!activatedBy(target.env, target.pid)) return undefined;
  return listeningAddressOfFd(target.pid, LISTEN_FDS_START);
}

export function registerHealthcheckCommand(program: Command, build: () => Command): Command {
  return program
    .command('healthcheck')
    .description(
      "exit 0 if the stalkd in this container is ready (reads its flags from /proc; the image's HEALTHCHECK)",
    )
    .option('--pid <pid>', 'check this process instead of PID 1 or the first stalkd found')
    .action(async (opts: { pid?: string }) => {
      const target = opts.pid !== undefined ? readStalkdProcess(Number(opts.pid)) : findStalkdProcess();
      if (!target) {
        process.stdout.write(
          `unhealthy: no stalkd node or proxy process${opts.pid ? ` with pid ${opts.pid}` : ''}\n`,
        );
        process.exitCode = 1;
        return;
      }
      const result = await checkHealth(
        parseCommandLine(build, target.args, target.env),
        inheritedAddress(target),
      );
      process.stdout.write(
        `${result.ok ? 'healthy' : 'unhealthy'}: pid ${target.pid} ${target.args[0]}, ${result.why}\n`,
      );
      process.exitCode = result.ok ? 0 : 1;
    });
}
