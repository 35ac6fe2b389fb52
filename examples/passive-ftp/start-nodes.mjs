// The two FTP nodes of the passive-ftp example: vsftpd (Debian's package) on 127.0.0.2 and
// 127.0.0.3, anonymous download only, each with its own config, files and log under a
// temporary folder, told to announce the balancer's address and port range for passive mode.
//   node examples/passive-ftp/start-nodes.mjs
// Env (the balancer's config reads the same): PB_PASSIVE_FTP_PORT (control port, 2121),
// PB_PASSIVE_FTP_PASV_PORTS (passive range, 30000-30019), PB_PASSIVE_FTP_ADDRESS (the
// balancer's address, 127.0.0.1); PB_PASSIVE_FTP_DIR (a folder to use instead of a new
// temporary one, kept at exit); VSFTPD (the binary, /usr/sbin/vsftpd).
// Prints one line per node, the sha256 of the test file, then "nodes ready"; Ctrl-C or
// SIGTERM stops both servers and removes the temporary folder.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const NODES = [
  { id: 'a', host: '127.0.0.2' },
  { id: 'b', host: '127.0.0.3' },
];
const controlPort = Number(process.env.PB_PASSIVE_FTP_PORT ?? 2121);
const passivePorts = process.env.PB_PASSIVE_FTP_PASV_PORTS ?? '30000-30019';
const balancerAddress = process.env.PB_PASSIVE_FTP_ADDRESS ?? '127.0.0.1';
const vsftpd = process.env.VSFTPD ?? '/usr/sbin/vsftpd';
const BIG_FILE = 'big.bin';
const BIG_SIZE = 5 * 1024 * 1024;

function fail(message) {
  process.stderr.write(`start-nodes: ${message}\n`);
  process.exit(1);
}

const range = /^(\d+)-(\d+)$/.exec(passivePorts);
if (!range) fail(`PB_PASSIVE_FTP_PASV_PORTS: expected "first-last", got "${passivePorts}"`);
try {
  accessSync(vsftpd, constants.X_OK);
} catch {
  fail(`${vsftpd} not found: install Debian's vsftpd (apt-get install vsftpd) or set VSFTPD`);
}

const ownDir = process.env.PB_PASSIVE_FTP_DIR === undefined;
const dir = ownDir ? mkdtempSync(path.join(tmpdir(), 'pb-passive-ftp-')) : path.resolve(process.env.PB_PASSIVE_FTP_DIR);
mkdirSync(dir, { recursive: true });
// vsftpd's anonymous session runs as the `ftp` user inside its root: the folders on the way
// must be readable by others, and the roots not writable by that user (vsftpd refuses).
chmodSync(dir, 0o755);
const empty = path.join(dir, 'empty'); // vsftpd's secure_chroot_dir: empty, owned by us
mkdirSync(empty, { recursive: true, mode: 0o755 });

// The same 5 MB of random bytes on every node: whichever node serves, the checksum holds.
const big = randomBytes(BIG_SIZE);

/** vsftpd.conf of one node (vsftpd allows no comment after a setting, so the why is here). */
function configOf(node, root, log) {
  const asRoot = process.getuid?.() === 0;
  return [
    'listen=YES',
    'listen_ipv6=NO',
    'background=NO',
    `listen_address=${node.host}`,
    `listen_port=${controlPort}`,
    'anonymous_enable=YES',
    'local_enable=NO',
    'write_enable=NO',
    `anon_root=${root}`,
    'no_anon_password=YES',
    // Passive mode through the balancer: announce ITS address in PASV replies (EPSV replies
    // carry a port only), and open data ports only in the range the balancer forwards.
    'pasv_enable=YES',
    `pasv_address=${balancerAddress}`,
    'pasv_addr_resolve=NO',
    `pasv_min_port=${range[1]}`,
    `pasv_max_port=${range[2]}`,
    // Control and data connections both reach the node from the balancer's address, so
    // vsftpd's check that they come from one address holds: no pasv_promiscuous needed.
    'pasv_promiscuous=NO',
    // Active mode would have the node dial the client directly, around the balancer.
    'port_enable=NO',
    `ftpd_banner=Proto Balance passive-ftp node ${node.id}`,
    'xferlog_enable=YES',
    'xferlog_std_format=NO',
    `vsftpd_log_file=${log}`,
    'syslog_enable=NO',
    `secure_chroot_dir=${empty}`,
    // Sandboxes that need privileges containers often lack; loopback-only example.
    'seccomp_sandbox=NO',
    'isolate=NO',
    'isolate_network=NO',
    // Without root, vsftpd can neither chroot nor switch to the `ftp` user: run as we are.
    ...(asRoot ? [] : ['run_as_launching_user=YES']),
    '',
  ].join('\n');
}

/** Resolves once the node greets on its control port; rejects after `ms`. */
async function greeted(host, port, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const banner = await new Promise((resolve) => {
      const socket = net.connect({ host, port });
      socket.setTimeout(1000, () => socket.destroy());
      socket.once('data', (chunk) => (socket.destroy(), resolve(String(chunk))));
      socket.once('error', () => resolve(''));
      socket.once('close', () => resolve(''));
    });
    if (banner.startsWith('220')) return;
    if (Date.now() > deadline) throw new Error(`no FTP greeting from ${host}:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const servers = [];
let stopping = false;
/** Stop the servers (SIGKILL after 3 s), wait for them so none is left behind, then exit. */
async function stop(code) {
  if (stopping) return;
  stopping = true;
  const running = servers.filter((s) => s.exitCode === null && s.signalCode === null);
  const exited = running.map((s) => new Promise((resolve) => s.once('exit', resolve)));
  for (const s of running) s.kill('SIGTERM');
  const killer = setTimeout(() => running.forEach((s) => s.kill('SIGKILL')), 3000);
  await Promise.all(exited);
  clearTimeout(killer);
  if (ownDir) rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void stop(0));

for (const node of NODES) {
  const root = path.join(dir, node.id);
  mkdirSync(root, { recursive: true, mode: 0o755 });
  writeFileSync(path.join(root, 'node.txt'), `${node.id}\n`, { mode: 0o644 });
  writeFileSync(path.join(root, BIG_FILE), big, { mode: 0o644 });
  const conf = path.join(dir, `vsftpd-${node.id}.conf`);
  const log = path.join(dir, `vsftpd-${node.id}.log`);
  writeFileSync(conf, configOf(node, root, log), { mode: 0o600 }); // vsftpd wants it not world-writable
  const server = spawn(vsftpd, [conf], { stdio: ['ignore', 'inherit', 'inherit'] });
  servers.push(server);
  server.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`start-nodes: vsftpd of node ${node.id} exited (${code ?? signal}); see its message above\n`);
      void stop(1);
    }
  });
  process.stdout.write(`node ${node.id}: vsftpd on ${node.host}:${controlPort}, files in ${root}, log ${log} (pid ${server.pid})\n`);
}
try {
  await Promise.all(NODES.map((n) => greeted(n.host, controlPort, 10_000)));
} catch (err) {
  process.stderr.write(`start-nodes: ${err.message}\n`);
  await stop(1);
}
process.stdout.write(`file ${BIG_FILE}: ${BIG_SIZE} bytes, sha256 ${createHash('sha256').update(big).digest('hex')}\n`);
process.stdout.write(`passive mode: ${balancerAddress}, ports ${passivePorts}\nnodes ready\n`);
