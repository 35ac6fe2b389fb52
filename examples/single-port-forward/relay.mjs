// A stand-in SMTP relay for the single-port-forward example, so the retargeting can be seen
// without a mail server: it greets first, as SMTP does, with its own name ("220 relay-a …"),
// answers every line with "250 <name> ok" and QUIT with "221 <name> bye".
//   node examples/single-port-forward/relay.mjs <name> <port> [host]     (host: 127.0.0.1)
// Try it through the balancer with `nc 127.0.0.1 2525` (type NOOP, then QUIT).
import net from 'node:net';

const [name, portText, host = '127.0.0.1'] = process.argv.slice(2);
if (!name || !portText) {
  process.stderr.write('usage: node relay.mjs <name> <port> [host]\n');
  process.exit(2);
}
const port = Number(portText);
const server = net.createServer((socket) => {
  socket.on('error', () => {}); // a client gone mid-session is no fault of the relay
  socket.setEncoding('utf8');
  socket.write(`220 ${name} ESMTP stand-in relay\r\n`);
  let pending = '';
  socket.on('data', (chunk) => {
    pending += chunk;
    // Line by line, as SMTP is: a command may arrive in pieces or several at once.
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      const command = pending.slice(0, end).trim().toUpperCase();
      pending = pending.slice(end + 1);
      if (command === 'QUIT') {
        socket.end(`221 ${name} bye\r\n`);
        return;
      }
      socket.write(`250 ${name} ok\r\n`);
    }
  });
});
server.on('error', (err) => {
  process.stderr.write(`relay ${name} cannot listen on ${host}:${port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => process.stdout.write(`relay ${name} listening on ${host}:${port} (pid ${process.pid})\n`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
