/**
 * The soak's backends, a child process of bench/soak.ts: three TCP echo servers on
 * loopback. Each first writes one byte naming itself (1, 2, 3), then echoes everything,
 * and ends its side when the client has ended its own (half-close is honoured).
 *
 * Why the name byte: the client then knows which node served it, so it can count the
 * share per node and tell a connection killed by a Red node (expected) from any other
 * failure (unexpected).
 */
import net from 'node:net';
import { announceReady, serveCommands } from './soak-protocol.ts';

const NODES = 3;
const accepted = Array.from({ length: NODES }, () => 0);

function echoServer(index: number): net.Server {
  return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    accepted[index]!++;
    // Resets are the soak's business (clients destroy on purpose, Red kills): never fatal here.
    socket.on('error', () => {});
    socket.write(Buffer.of(index + 1));
    socket.pipe(socket);
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', 1024, () => resolve((server.address() as net.AddressInfo).port));
  });
}

const servers = Array.from({ length: NODES }, (_, i) => echoServer(i));
const ports: number[] = [];
for (const s of servers) ports.push(await listen(s));

serveCommands(
  async (cmd) => {
    if (cmd.op === 'counts') return [...accepted];
    if (cmd.op === 'stop') {
      setImmediate(() => process.exit(0));
      return null;
    }
    throw new Error(`backends do not know ${cmd.op}`);
  },
  () => process.exit(0),
);
announceReady(ports);
