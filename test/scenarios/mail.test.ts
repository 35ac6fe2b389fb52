/**
 * examples/mail: the example's config, copied to a temporary folder and started on free
 * ports (PB_MAIL_SMTP_PORT, PB_MAIL_IMAP_PORT, PB_MAIL_POP3_PORT, PB_ADMIN_PORT), in front
 * of the example's two real mail nodes (examples/mail/start-servers.mjs: aiosmtpd and
 * Dovecot on 127.0.0.2 and 127.0.0.3, one shared Maildir). curl sends mail over SMTP
 * through the balancer and reads every message back over IMAP and over POP3 through it,
 * through each of the two nodes, byte for byte as sent.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startCli, type Running } from '../helpers/cli.ts';
import { curl, freeMailPorts, greetedBy, lf, MAIL_EXAMPLE, MAIL_PASSWORD, MAIL_USER, mailPortEnv, startMailServers, type MailServers } from '../helpers/mail-servers.ts';
import { freePort, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const NODE_IDS = ['a', 'b'];

interface Sent {
  subject: string;
  /** The message as written, LF line ends. */
  text: string;
  /** The node that accepted it over SMTP. */
  node: string;
}

/** A message no other run (or other message) shares: unique subject and body. */
function message(run: string, n: number): { subject: string; text: string } {
  const subject = `proto balance mail test ${run} #${n}`;
  const body = [`Message ${n} of run ${run}.`, `Token ${randomBytes(12).toString('hex')}`, '', 'Sent over SMTP, read over IMAP and POP3.'];
  const text = [`From: Bob <bob@example.test>`, `To: Alice <alice@example.test>`, `Subject: ${subject}`, `Message-ID: <${run}.${n}@example.test>`, '', ...body, ''].join('\n');
  return { subject, text };
}

/** One message over SMTP through the balancer: the node that took it. */
async function send(port: number, text: string): Promise<string> {
  // Uploaded without its last line end: curl (7.88) ends DATA with CRLF.CRLF whatever the
  // body ends with, so a body's own final line end would come back as one more empty line.
  const upload = text.replace(/\n$/, '');
  const r = await curl([`smtp://127.0.0.1:${port}`, '--mail-from', 'bob@example.test', '--mail-rcpt', `${MAIL_USER}@example.test`, '--upload-file', '-'], upload);
  assert.is(r.code, 0, `curl smtp: ${r.stderr}`);
  const node = greetedBy(r.stderr);
  assert.ok(node, `SMTP greeting names a node: ${r.stderr}`);
  assert.match(r.stderr, `250 2.0.0 OK delivered by mail node ${node}`);
  return node!;
}

/** A message read back as the node served it; `node` from the greeting. */
interface Read {
  node: string;
  text: string;
}

/** `read()` again until both nodes have served it (bounded); every read is returned. */
async function readThroughEveryNode(read: () => Promise<Read>, what: string): Promise<Read[]> {
  const reads: Read[] = [];
  for (let i = 0; i < 12 && !NODE_IDS.every((id) => reads.some((r) => r.node === id)); i++) reads.push(await read());
  assert.equal([...new Set(reads.map((r) => r.node))].sort(), NODE_IDS, `${what} read through both nodes: ${reads.map((r) => r.node).join(' ')}`);
  return reads;
}

/** What a node hands back: its Received: line on top of the message exactly as sent. */
function assertDelivered(read: Read, sent: Sent, what: string): void {
  const received = /^Received: [^\n]*\n(?:\t[^\n]*\n)*/.exec(read.text)?.[0];
  assert.ok(received, `${what}: starts with the node's Received: line: ${read.text.slice(0, 200)}`);
  assert.match(received!, `by mail-${sent.node} (aiosmtpd)`, `${what}: Received: names the node that took it over SMTP`);
  assert.fixture(read.text.slice(received!.length), sent.text, `${what}: the message as sent`);
}

function imapUrl(port: number, rest: string): string {
  return `imap://${MAIL_USER}:${MAIL_PASSWORD}@127.0.0.1:${port}/INBOX${rest}`;
}

function pop3Url(port: number, rest: string): string {
  return `pop3://${MAIL_USER}:${MAIL_PASSWORD}@127.0.0.1:${port}/${rest}`;
}

async function imapUidOf(port: number, subject: string): Promise<number> {
  const r = await curl([imapUrl(port, ''), '-X', `UID SEARCH SUBJECT "${subject}"`]);
  assert.is(r.code, 0, `curl imap search: ${r.stderr}`);
  const uids = /^\* SEARCH((?: \d+)*)\s*$/m.exec(r.stdout)?.[1]?.trim().split(' ').filter(Boolean) ?? [];
  assert.is(uids.length, 1, `one message with subject "${subject}": ${r.stdout}`);
  return Number(uids[0]);
}

async function imapFetch(port: number, uid: number): Promise<Read> {
  const r = await curl([imapUrl(port, `/;UID=${uid}`)]);
  assert.is(r.code, 0, `curl imap fetch: ${r.stderr}`);
  return { node: greetedBy(r.stderr) ?? `? ${r.stderr}`, text: lf(r.stdout) };
}

async function pop3Retrieve(port: number, n: number): Promise<Read> {
  const r = await curl([pop3Url(port, String(n))]);
  assert.is(r.code, 0, `curl pop3 retr: ${r.stderr}`);
  return { node: greetedBy(r.stderr) ?? `? ${r.stderr}`, text: lf(r.stdout) };
}

const scenario = suite('examples/mail: SMTP, IMAP and POP3 to real mail servers');

scenario('mail sent over SMTP through the balancer is read back over IMAP and POP3 through it, via both nodes', async () => {
  const ports = await freeMailPorts();
  let servers: MailServers | undefined;
  let balancer: Running | undefined;
  try {
    const mail = await startMailServers(ports);
    servers = mail;
    const env = { ...mailPortEnv(ports), PB_ADMIN_PORT: String(await freePort()), PB_ADMIN_HOST: '' };
    const dir = tmpDir({ 'protobalance.config.ts': readFileSync(path.join(MAIL_EXAMPLE, 'protobalance.config.ts'), 'utf8') });
    balancer = startCli(['start'], env, dir);
    await balancer.waitForOutput('admin API on', 30_000);

    // SMTP: at least four messages, and more until both nodes have taken some.
    const run = randomBytes(4).toString('hex');
    const sent: Sent[] = [];
    for (let n = 1; n <= 12 && (n <= 4 || !NODE_IDS.every((id) => sent.some((s) => s.node === id))); n++) {
      const { subject, text } = message(run, n);
      sent.push({ subject, text, node: await send(ports.smtp, text) });
    }
    assert.equal([...new Set(sent.map((s) => s.node))].sort(), NODE_IDS, `SMTP through both nodes: ${sent.map((s) => s.node).join(' ')}`);
    const onDisk = ['new', 'cur'].flatMap((d) => readdirSync(path.join(mail.maildir, d)));
    assert.is(onDisk.length, sent.length, 'every message delivered into the shared Maildir');

    // IMAP: each message found by its subject and fetched through each node.
    for (const s of sent) {
      const uid = await imapUidOf(ports.imap, s.subject);
      const reads = await readThroughEveryNode(() => imapFetch(ports.imap, uid), `IMAP UID ${uid}`);
      for (const read of reads) assertDelivered(read, s, `IMAP UID ${uid} via node ${read.node}`);
    }

    // POP3: the listing holds exactly what was sent; each message retrieved through each node.
    const list = await curl([pop3Url(ports.pop3, '')]);
    assert.is(list.code, 0, `curl pop3 list: ${list.stderr}`);
    const numbers = lf(list.stdout).trim().split('\n').map((line) => Number(line.split(' ')[0]));
    assert.is(numbers.length, sent.length, `POP3 LIST: ${list.stdout}`);
    const seen = new Set<string>();
    for (const n of numbers) {
      const reads = await readThroughEveryNode(() => pop3Retrieve(ports.pop3, n), `POP3 message ${n}`);
      const subject = /^Subject: (.*)$/m.exec(reads[0]!.text)?.[1];
      const s = sent.find((m) => m.subject === subject);
      assert.ok(s, `POP3 message ${n} is one that was sent: ${subject}`);
      for (const read of reads) assertDelivered(read, s!, `POP3 message ${n} via node ${read.node}`);
      seen.add(s!.subject);
    }
    assert.is(seen.size, sent.length, 'every message sent was retrieved over POP3');
  } finally {
    try {
      if (balancer) {
        balancer.child.kill('SIGTERM');
        const finished = await withTimeout(balancer.exited, 30_000, 'the balancer to exit on SIGTERM');
        assert.is(finished.code, 0, finished.stderr);
      }
    } finally {
      await servers?.stop();
    }
  }
});

scenario.run();
