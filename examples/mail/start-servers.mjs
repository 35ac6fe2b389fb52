// The mail example's two mail nodes, a on 127.0.0.2 and b on 127.0.0.3, each a complete
// mail server: SMTP (smtp-to-maildir.py, aiosmtpd) and IMAP + POP3 (Dovecot). Both deliver
// to and read from one Maildir, as mail servers on shared storage do, so whichever node the
// balancer picks, alice sees the same mailbox.
//   node examples/mail/start-servers.mjs [DATA_DIR]
// DATA_DIR (default: a new folder under the system's temp folder, removed on exit) receives
// each node's Dovecot config, state and log, and the shared Maildir. The nodes listen on the
// balancer's ports (PB_MAIL_SMTP_PORT 2525, PB_MAIL_IMAP_PORT 1143, PB_MAIL_POP3_PORT 1110)
// on their own addresses. Prints `mail servers ready` once every port answers; Ctrl-C (or
// SIGTERM) stops them all. Needs Debian's dovecot-imapd, dovecot-pop3d and python3-aiosmtpd.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODES = [
  { id: 'a', host: '127.0.0.2' },
  { id: 'b', host: '127.0.0.3' },
];
const USER = 'alice';
const ports = {
  smtp: Number(process.env.PB_MAIL_SMTP_PORT ?? 2525),
  imap: Number(process.env.PB_MAIL_IMAP_PORT ?? 1143),
  pop3: Number(process.env.PB_MAIL_POP3_PORT ?? 1110),
};

function fail(message) {
  process.stderr.write(`start-servers: ${message}\n`);
  process.exit(1);
}

function findDovecot() {
  // /usr/sbin is often missing from a non-root user's PATH.
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  const found = dirs.filter(Boolean).map((d) => path.join(d, 'dovecot')).find((f) => existsSync(f));
  if (!found) fail("dovecot not found: install Debian's dovecot-imapd and dovecot-pop3d (sudo apt-get install dovecot-imapd dovecot-pop3d)");
  // Debian ships each protocol in its own package; dovecot-core alone serves neither.
  const libexec = '/usr/lib/dovecot';
  if (existsSync(libexec)) {
    const missing = [['imap', 'dovecot-imapd'], ['pop3', 'dovecot-pop3d']].filter(([bin]) => !existsSync(path.join(libexec, bin)));
    if (missing.length > 0) {
      const pkgs = missing.map(([, pkg]) => pkg).join(' ');
      fail(`Dovecot cannot serve ${missing.map(([bin]) => bin.toUpperCase()).join(' or ')}: install Debian's ${pkgs} (sudo apt-get install ${pkgs})`);
    }
  }
  return found;
}

function findPython() {
  // Debian's python3-aiosmtpd is installed for Debian's own python3, which a pyenv or a
  // virtualenv earlier on PATH hides: try /usr/bin/python3 first.
  const candidates = process.env.PB_MAIL_PYTHON ? [process.env.PB_MAIL_PYTHON] : ['/usr/bin/python3', 'python3'];
  const found = candidates.find((py) => spawnSync(py, ['-c', 'import aiosmtpd'], { stdio: 'ignore', timeout: 15_000 }).status === 0);
  if (!found) {
    fail(`no python3 with aiosmtpd (tried ${candidates.join(', ')}): install Debian's python3-aiosmtpd (sudo apt-get install python3-aiosmtpd), or set PB_MAIL_PYTHON to a python3 that has aiosmtpd`);
  }
  return found;
}

/** Who holds the mail: Dovecot never touches mail as root, so root hands it to Debian's `mail` user. */
function mailOwner() {
  if (process.getuid?.() !== 0) {
    const me = os.userInfo();
    const group = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(me.gid))?.split(':')[0];
    return { name: me.username, group: group ?? me.username, uid: me.uid, gid: me.gid, root: false };
  }
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('mail:'));
  if (!line) fail('running as root and there is no `mail` user to hold the mail (Dovecot refuses mail access as root)');
  const [, , uid, gid] = line.split(':');
  return { name: 'mail', group: 'mail', uid: Number(uid), gid: Number(gid), root: true };
}

/** One node's Dovecot config: its own lines, then the shared examples/mail/dovecot.conf. */
function dovecotConfig(node, nodeDir, maildir, usersFile, owner) {
  const listener = (name, port) => [`  inet_listener ${name} {`, `    port = ${port}`, '  }'];
  // Without root, Dovecot can neither switch users nor chroot its login processes.
  const login = owner.root ? [] : ['  chroot =', '  user = $default_login_user'];
  return [
    `# Mail node ${node.id}, written by examples/mail/start-servers.mjs; the shared part follows.`,
    `listen = ${node.host}`,
    `base_dir = ${nodeDir}/run`,
    `state_dir = ${nodeDir}/state`,
    `log_path = ${nodeDir}/dovecot.log`,
    `login_greeting = mail node ${node.id} ready.`,
    `mail_location = maildir:${maildir}`,
    `mail_uid = ${owner.uid}`,
    `mail_gid = ${owner.gid}`,
    `first_valid_uid = ${owner.uid}`,
    `first_valid_gid = ${owner.gid}`,
    // Without root, every Dovecot process and socket belongs to whoever runs it.
    ...(owner.root ? [] : [`default_internal_user = ${owner.name}`, `default_internal_group = ${owner.group}`, `default_login_user = ${owner.name}`]),
    'passdb {',
    '  driver = passwd-file',
    `  args = scheme=PLAIN username_format=%n ${usersFile}`,
    '}',
    'service imap-login {', ...listener('imap', ports.imap), ...listener('imaps', 0), ...login, '}',
    'service pop3-login {', ...listener('pop3', ports.pop3), ...listener('pop3s', 0), ...login, '}',
    '',
    readFileSync(path.join(HERE, 'dovecot.conf'), 'utf8'),
  ].join('\n');
}

const dovecot = findDovecot();
const python = findPython();
const owner = mailOwner();
const madeDataDir = !process.argv[2];
const dataDir = path.resolve(process.argv[2] ?? mkdtempSync(path.join(os.tmpdir(), 'pb-mail-')));
mkdirSync(dataDir, { recursive: true });
chmodSync(dataDir, 0o755); // the mail owner must reach the Maildir inside
const maildir = path.join(dataDir, 'Maildir');
for (const sub of ['', 'cur', 'new', 'tmp']) {
  mkdirSync(path.join(maildir, sub), { recursive: true });
  if (owner.root) chownSync(path.join(maildir, sub), owner.uid, owner.gid);
}
const usersFile = path.join(dataDir, 'users');
writeFileSync(usersFile, readFileSync(path.join(HERE, 'users')));

/** @type {{ name: string, child: import('node:child_process').ChildProcess, log?: string }[]} */
const servers = [];
let stopping = false;

function prefixed(name, chunk) {
  return String(chunk).replace(/^(?=.)/gm, `[${name}] `);
}

function start(name, command, args, options = {}, log = undefined) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  child.stdout.on('data', (c) => process.stdout.write(prefixed(name, c)));
  child.stderr.on('data', (c) => process.stderr.write(prefixed(name, c)));
  child.on('error', (err) => process.stderr.write(`[${name}] ${err.message}\n`));
  child.on('exit', (code, signal) => {
    if (stopping) return;
    const logTail = log && existsSync(log) ? `\n${readFileSync(log, 'utf8').split('\n').slice(-8).join('\n')}` : '';
    process.stderr.write(`start-servers: ${name} exited (${code ?? signal}), stopping the others${logTail}\n`);
    void stop(1);
  });
  servers.push({ name, child, log });
}

for (const node of NODES) {
  const nodeDir = path.join(dataDir, `node-${node.id}`);
  mkdirSync(nodeDir, { recursive: true });
  const conf = path.join(nodeDir, 'dovecot.conf');
  writeFileSync(conf, dovecotConfig(node, nodeDir, maildir, usersFile, owner));
  // -F: stay in the foreground, so this script owns the process and its exit.
  start(`dovecot ${node.id}`, dovecot, ['-F', '-c', conf], {}, path.join(nodeDir, 'dovecot.log'));
  const smtpArgs = [path.join(HERE, 'smtp-to-maildir.py'), '--node', node.id, '--host', node.host, '--port', String(ports.smtp), '--maildir', maildir, '--user', USER];
  // As root the SMTP server runs as the mail owner too, so Dovecot can move what it delivers.
  start(`smtp ${node.id}`, python, ['-u', ...smtpArgs], owner.root ? { uid: owner.uid, gid: owner.gid } : {});
}
// For whoever must clean up after a hard kill of this script: every server's pid.
writeFileSync(path.join(dataDir, 'servers.pid'), servers.map((s) => `${s.child.pid} ${s.name}\n`).join(''));

async function stop(code) {
  if (stopping) return;
  stopping = true;
  const exits = servers.map(({ child }) =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve)),
  );
  for (const { child } of servers) child.kill('SIGTERM');
  const timer = setTimeout(() => servers.forEach(({ child }) => child.kill('SIGKILL')), 10_000);
  await Promise.all(exits);
  clearTimeout(timer);
  if (madeDataDir) rmSync(dataDir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

function answers(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

const deadline = Date.now() + 20_000;
for (const node of NODES) {
  for (const port of Object.values(ports)) {
    while (!(await answers(node.host, port))) {
      if (stopping) await new Promise(() => {}); // a server died: stop() reports and exits
      if (Date.now() > deadline) {
        process.stderr.write(`start-servers: nothing answers on ${node.host}:${port} after 20s\n`);
        await stop(1);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
for (const node of NODES) {
  process.stdout.write(`mail node ${node.id} on ${node.host}: SMTP ${ports.smtp}, IMAP ${ports.imap}, POP3 ${ports.pop3}\n`);
}
process.stdout.write(`user ${USER}, password wonderland; Maildir ${maildir}\nmail servers ready (Ctrl-C stops them)\n`);
