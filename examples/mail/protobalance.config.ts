// The mail example: SMTP, IMAP and POP3 on one address (127.0.0.1), balanced over two real
// mail servers, nodes a (127.0.0.2) and b (127.0.0.3), that share one Maildir. A message
// sent over SMTP through either node is read back over IMAP or POP3 through either node.
// Servers: `node examples/mail/start-servers.mjs` (aiosmtpd for SMTP, Dovecot for IMAP/POP3).
// Run:     npx protobalance start --config examples/mail/protobalance.config.ts
// Ports can be moved with PB_MAIL_SMTP_PORT, PB_MAIL_IMAP_PORT, PB_MAIL_POP3_PORT (the
// servers read them too) and PB_ADMIN_PORT.
import { defineConfig } from 'protobalance';

const smtpPort = Number(process.env.PB_MAIL_SMTP_PORT ?? 2525);
const imapPort = Number(process.env.PB_MAIL_IMAP_PORT ?? 1143);
const pop3Port = Number(process.env.PB_MAIL_POP3_PORT ?? 1110);

export default defineConfig({
  // One listener per protocol, all to the one cluster: every node speaks all three.
  listeners: [
    { name: 'smtp', port: smtpPort, host: '127.0.0.1', cluster: 'mail' },
    { name: 'imap', port: imapPort, host: '127.0.0.1', cluster: 'mail' },
    { name: 'pop3', port: pop3Port, host: '127.0.0.1', cluster: 'mail' },
  ],
  clusters: {
    mail: {
      balance: 'round-robin',
      // A node address without a port takes the port the client dialled: SMTP goes to the
      // node's SMTP port, IMAP to its IMAP port, POP3 to its POP3 port.
      nodes: [
        { id: 'a', address: '127.0.0.2' },
        { id: 'b', address: '127.0.0.3' },
      ],
    },
  },
  connectTimeout: '1s',
  retryInterval: '5s',
  // Mail sessions are short; an IMAP client left idle for a long time is not drained.
  drainTimeout: '5s',
  admin: { host: '127.0.0.1', port: 9197, token: process.env.PB_ADMIN_TOKEN },
  stateDir: './.protobalance',
});
