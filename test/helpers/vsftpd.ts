/**
 * Real FTP servers for scenario tests: the passive-ftp example's own node script
 * (examples/passive-ftp/start-nodes.mjs, vsftpd from Debian's package) and curl as the client.
 * A missing vsftpd or curl is a failure that says what to install, never a skip.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, watch, type Running } from './cli.ts';
import { withTimeout } from './net.ts';

export const VSFTPD = process.env.VSFTPD ?? '/usr/sbin/vsftpd';
export const CURL = '/usr/bin/curl';
export const START_NODES = path.join(ROOT, 'examples', 'passive-ftp', 'start-nodes.mjs');

/** Throws, naming the Debian package, unless vsftpd and curl are installed. */
export function requireFtpTools(): void {
  for (const [binary, pkg] of [[VSFTPD, 'vsftpd'], [CURL, 'curl']] as const) {
    try {
      accessSync(binary, constants.X_OK);
    } catch {
      throw new Error(`${binary} is missing: this test needs Debian's ${pkg} (apt-get install ${pkg})`);
    }
  }
}

/** Whether `port` can be bound on `host` right now. */
function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * The first port of `count` consecutive ports free on every one of `hosts`, chosen at random
 * below Linux's ephemeral range (32768-) so that outgoing connections do not take them.
 */
export async function freePortRange(hosts: string[], count: number, tries = 30): Promise<number> {
  for (let attempt = 0; attempt < tries; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    let free = true;
    for (let port = base; free && port < base + count; port++) {
      for (const host of hosts) if (!(await bindable(host, port))) free = false;
    }
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports on ${hosts.join(', ')} after ${tries} tries`);
}

export interface FtpNodes {
  running: Running;
  /** sha256 of big.bin, the same 5 MB file on every node. */
  bigSha256: string;
  /** Node id → its vsftpd log file (xferlog lines: OK DOWNLOAD ...). */
  logs: Map<string, string>;
  /** Node id → pid of its vsftpd listener. */
  pids: Map<string, number>;
}

/**
 * The example's nodes, as its README starts them, with `env` (PB_PASSIVE_FTP_PORT,
 * PB_PASSIVE_FTP_PASV_PORTS, ...). Rejects, with the script's output, if they are not
 * ready within `ms` (a port taken, vsftpd refusing its config).
 */
export async function startFtpNodes(env: Record<string, string>, ms = 20_000): Promise<FtpNodes> {
  const running = watch(spawn(process.execPath, [START_NODES], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }), ms);
  try {
    await running.waitForOutput('nodes ready', ms);
  } catch (err) {
    await stopFtpNodes({ running, bigSha256: '', logs: new Map(), pids: pidsOf(running.stdout()) });
    throw err;
  }
  const out = running.stdout();
  const bigSha256 = /sha256 ([0-9a-f]{64})/.exec(out)?.[1];
  if (!bigSha256) throw new Error(`no sha256 in the node script's output: ${out}`);
  const logs = new Map([...out.matchAll(/^node (\w+): .* log (\S+) /gm)].map((m) => [m[1]!, m[2]!] as const));
  return { running, bigSha256, logs, pids: pidsOf(out) };
}

function pidsOf(out: string): Map<string, number> {
  return new Map([...out.matchAll(/^node (\w+): .*\(pid (\d+)\)$/gm)].map((m) => [m[1]!, Number(m[2])] as const));
}

/** SIGTERM the node script (it stops its vsftpd), then SIGKILL any vsftpd it left behind. */
export async function stopFtpNodes(nodes: FtpNodes): Promise<void> {
  const { child, exited } = nodes.running;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  try {
    await withTimeout(exited, 10_000, 'the FTP node script to exit');
  } catch {
    child.kill('SIGKILL');
    await withTimeout(exited, 5_000, 'the FTP node script to die');
  }
  for (const pid of nodes.pids.values()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: the script stopped it, as it should.
    }
  }
}

export type PassiveMode = 'epsv' | 'pasv';

export interface FtpDownload {
  code: number | null;
  /** curl's verbose trace: the FTP dialogue, replies prefixed with "< ". */
  trace: string;
}

/**
 * curl, from source address `from`, fetches `files` (url path → local file) over ONE control
 * connection to 127.0.0.1:`port`. 'epsv' is curl's default (EPSV: port only); 'pasv' sends
 * PASV and dials the address the server announced (curl ignores it unless told otherwise).
 */
export function curlFtp(port: number, from: string, mode: PassiveMode, files: [string, string][], ms = 60_000): Promise<FtpDownload> {
  const args = ['-sS', '-v', '--interface', from, '--connect-timeout', '5', '--max-time', String(Math.ceil(ms / 1000))];
  if (mode === 'pasv') args.push('--disable-epsv', '--no-ftp-skip-pasv-ip');
  for (const [remote, local] of files) args.push(`ftp://127.0.0.1:${port}/${remote}`, '-o', local);
  const run = watch(spawn(CURL, args, { stdio: ['ignore', 'pipe', 'pipe'] }), ms);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), ms + 5_000);
  return run.exited.then((f) => {
    clearTimeout(timer);
    return { code: f.code, trace: f.stderr };
  });
}
