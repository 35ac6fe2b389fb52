// A stand-in node for the single-cluster example: a small HTTP server that answers every
// request with its own id, so curl through the balancer shows which node served it.
//   node examples/single-cluster/node.mjs <id> <host> [port]     (port: PB_SINGLE_CLUSTER_NODE_PORT or 9301)
// Ctrl-C (or any kill) takes it down: that is the node failure the example is about.
import http from 'node:http';

const [id, host, portText = process.env.PB_SINGLE_CLUSTER_NODE_PORT ?? '9301'] = process.argv.slice(2);
if (!id || !host) {
  process.stderr.write('usage: node node.mjs <id> <host> [port]\n');
  process.exit(2);
}
const port = Number(portText);
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.setHeader('connection', 'close');
  res.end(`Hello from node ${id} (${host}:${port}), you asked for ${req.method} ${req.url}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`node ${id} cannot listen on ${host}:${port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => process.stdout.write(`node ${id} listening on ${host}:${port} (pid ${process.pid})\n`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
