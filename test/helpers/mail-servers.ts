/**
 * Real mail servers for scenario tests: the mail example's own script
 * (examples/mail/start-servers.mjs: aiosmtpd for SMTP, Dovecot for IMAP and POP3, one shared
 * Maildir) and curl as the client of all three protocols. A missing package is a failure
 * that names it, never a skip: start-servers.mjs itself names dovecot-imapd, dovecot-pop3d
 * and python3-aiosmtpd; curl is checked here.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, watch, type Running } from './cli.ts';
import { withTimeout } from './net.ts';
import { tmpDir } from './tmp.ts';

export const CURL = '/usr/bin/curl';
export const MAIL_EXAMPLE = path.join(ROOT, 'examples', 'mail');
export const MAIL_USER = 'alice';
export const MAIL_PASSWORD = 'wonderland';
/** The mail nodes' addresses, as examples/mail/start-servers.mjs and the config have them. */
export const MAIL_NODE_HOSTS = ['127.0.0.2', '127.0.0.3'];

export interface MailPorts {
  smtp: number;
  imap: number;
  pop3: number;
}

/** The env that moves the example's ports, for start-servers.mjs and the balancer alike. */
export function mailPortEnv(ports: MailPorts): Record<string, string> {
  return { PB_MAIL_SMTP_PORT: String(ports.smtp), PB_MAIL_IMAP_PORT: String(ports.imap), PB_MAIL_POP3_PORT: String(ports.pop3) };
}

/** Throws, naming the Debian package, unless curl is installed. */
export function requireCurl(): void {
  try {
    accessSync(CURL, constants.X_OK);
  } catch {
    throw new Error(`${CURL} is missing: this test needs Debian's curl (apt-get install curl)`);
  }
}

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * Three ports free on the balancer's address and on every node's (each node listens on the
 * port the client dialled), chosen at random below Linux's ephemeral range (32768-) so that
 * outgoing connections do not take them meanwhile.
 */
export async function freeMailPorts(tries = 30): Promise<MailPorts> {
  const hosts = ['127.0.0.1', ...MAIL_NODE_HOSTS];
  const picked: number[] = [];
  for (let attempt = 0; attempt < tries && picked.length < 3; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (picked.includes(port)) continue;
    const free = await Promise.all(hosts.map((h) => bindable(h, port)));
    if (free.every(Boolean)) picked.push(port);
  }
  const [smtp, imap, pop3] = picked;
  if (smtp === undefined || imap === undefined || pop3 === undefined) throw new Error(`no 3 ports free on ${hosts.join(', ')} after ${tries} tries`);
  return { smtp, imap, pop3 };
}

export interface MailServers {
  running: Running;
  ports: MailPorts;
  /** The shared Maildir both nodes deliver to and read from. */
  maildir: string;
  /** Stops every server (SIGTERM to start-servers.mjs, which stops its children); bounded. */
  stop(): Promise<void>;
}

/** Whether `pid` is a live process. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** start-servers.mjs on `ports`, its data (configs, logs, Maildir) in a new temporary folder. */
export async function startMailServers(ports: MailPorts): Promise<MailServers> {
  requireCurl();
  const dataDir = tmpDir();
  const child = spawn(process.execPath, [path.join(MAIL_EXAMPLE, 'start-servers.mjs'), dataDir], {
    env: { ...process.env, ...mailPortEnv(ports) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const running = watch(child);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const exited = await withTimeout(running.exited, 20_000, 'start-servers.mjs to stop the mail servers').catch((err: Error) => {
      child.kill('SIGKILL');
      return err;
    });
    // After a hard kill of the script its servers would be orphans: end each one by its pid.
    const pidFile = path.join(dataDir, 'servers.pid');
    if (existsSync(pidFile)) {
      for (const line of readFileSync(pidFile, 'utf8').split('\n')) {
        const pid = Number(line.split(' ')[0]);
        if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
    if (exited instanceof Error) throw exited;
  };
  try {
    await running.waitForOutput('mail servers ready', 40_000);
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return { running, ports, maildir: path.join(dataDir, 'Maildir'), stop };
}

export interface CurlResult {
  code: number | null;
  stdout: string;
  /** With -v: the protocol dialogue, `< ` lines from the server. */
  stderr: string;
}

/** curl with `args` (and `input` on stdin), bounded: curl's own --max-time and a kill after it. */
export async function curl(args: string[], input?: string, ms = 15_000): Promise<CurlResult> {
  const child = spawn(CURL, ['--silent', '--show-error', '--verbose', '--max-time', String(Math.ceil(ms / 1000)), ...args], {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  const running = watch(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms + 5_000);
  const finished = await running.exited;
  clearTimeout(timer);
  return { code: finished.code, stdout: finished.stdout, stderr: finished.stderr };
}

/**
 * Which mail node answered, from its greeting in curl's -v dialogue: `220 mail-a ESMTP ...`
 * (SMTP), `* OK [...] mail node a ready.` (IMAP), `+OK mail node a ready.` (POP3).
 */
export function greetedBy(dialogue: string): string | undefined {
  return /^< (?:220 mail-(\w+) |\* OK .*mail node (\w+) ready|\+OK mail node (\w+) ready)/m.exec(dialogue)?.slice(1).find(Boolean);
}

/** Text with CRLF line ends made LF (IMAP and POP3 send CRLF; the messages are written with LF). */
export function lf(text: string): string {
  return text.replace(/\r\n/g, '\n');
}
