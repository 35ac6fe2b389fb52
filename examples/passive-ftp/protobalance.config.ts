// The passive-ftp deployment: one cluster of two FTP nodes (vsftpd on 127.0.0.2 and
// 127.0.0.3) behind one address. A passive-mode FTP client opens a control connection, then
// a data connection to the port the server announced: both must reach the SAME node. So the
// control port and the passive range are listeners of one cluster, its nodes have no port
// (each connection goes to the port the client dialled), and affinity keeps a client on the
// node its control connection reached.
// Nodes: `node examples/passive-ftp/start-nodes.mjs` (vsftpd told to announce 127.0.0.1 and
//        the range below for passive mode).
// Run:   npx protobalance start --config examples/passive-ftp/protobalance.config.ts
// Ports can be moved with PB_PASSIVE_FTP_PORT, PB_PASSIVE_FTP_PASV_PORTS, PB_ADMIN_PORT.
import { defineConfig } from 'protobalance';

const controlPort = Number(process.env.PB_PASSIVE_FTP_PORT ?? 2121);
// The nodes' pasv_min_port-pasv_max_port: the same range, forwarded port for port.
const passivePorts = process.env.PB_PASSIVE_FTP_PASV_PORTS ?? '30000-30019';

export default defineConfig({
  listeners: [
    { name: 'ftp', port: controlPort, host: '127.0.0.1', cluster: 'ftp' },
    { name: 'ftp-data', port: passivePorts, host: '127.0.0.1', cluster: 'ftp' },
  ],
  clusters: {
    ftp: {
      balance: 'round-robin',
      // A client (its IP address) goes back to the node that served it last: its data
      // connections follow its control connection. The ttl outlasts any one session.
      affinity: { enabled: true, ttl: '1h' },
      nodes: [
        { id: 'a', address: '127.0.0.2' }, // no port: the port the client dialled
        { id: 'b', address: '127.0.0.3' },
      ],
    },
  },
  connectTimeout: '1s',
  retryInterval: '5s',
  drainTimeout: '5s',
  admin: { host: '127.0.0.1', port: 9195, token: process.env.PB_ADMIN_TOKEN },
  stateDir: './.protobalance',
});
