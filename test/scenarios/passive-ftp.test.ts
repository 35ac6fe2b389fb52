/**
 * examples/passive-ftp: the example's config, copied to a temporary folder and started with
 * free ports (PB_PASSIVE_FTP_PORT, PB_PASSIVE_FTP_PASV_PORTS, PB_ADMIN_PORT), in front of the
 * example's two vsftpd nodes (examples/passive-ftp/start-nodes.mjs on 127.0.0.2 and .3).
 * curl, from several loopback source addresses, fetches a node-id file and a 5 MB file over
 * one control connection, with EPSV and with PASV: every byte arrives, each client stays on
 * one node, and both nodes serve.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli, startCli, type Running } from '../helpers/cli.ts';
import { freePort, sha256, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { curlFtp, freePortRange, requireFtpTools, startFtpNodes, stopFtpNodes, type FtpNodes, type PassiveMode } from '../helpers/vsftpd.ts';

const EXAMPLE = path.join(ROOT, 'examples', 'passive-ftp');
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3']; // the balancer, node a, node b
const PASSIVE_PORTS = 20;
const BIG_SIZE = 5 * 1024 * 1024;
/** Client source addresses tried until both nodes have served (each one is bound to one). */
const CLIENTS = Array.from({ length: 12 }, (_, i) => `127.0.0.${10 + i}`);

interface Deployment {
  nodes: FtpNodes;
  balancer: Running;
  env: Record<string, string>;
  dir: string;
  controlPort: number;
  range: [number, number];
}

/** Nodes and balancer on free ports (retried when a port is taken meanwhile). */
async function deploy(started: { nodes?: FtpNodes; balancer?: Running }): Promise<Deployment> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const base = await freePortRange(HOSTS, PASSIVE_PORTS + 1);
    // base: the control port; base+1..: the passive range, free on all three addresses.
    const range: [number, number] = [base + 1, base + PASSIVE_PORTS];
    const env = {
      PB_PASSIVE_FTP_PORT: String(base),
      PB_PASSIVE_FTP_PASV_PORTS: `${range[0]}-${range[1]}`,
      PB_ADMIN_PORT: String(await freePort()),
      PB_ADMIN_HOST: '',
    };
    try {
      started.nodes = await startFtpNodes(env);
    } catch (err) {
      lastError = err;
      continue;
    }
    const dir = tmpDir({ 'protobalance.config.ts': readFileSync(path.join(EXAMPLE, 'protobalance.config.ts'), 'utf8') });
    started.balancer = startCli(['start'], env, dir);
    try {
      await started.balancer.waitForOutput('processes serving', 30_000);
      return { nodes: started.nodes, balancer: started.balancer, env, dir, controlPort: base, range };
    } catch (err) {
      lastError = err;
      await stopAll(started);
    }
  }
  throw new Error(`could not start the deployment: ${String(lastError)}`);
}

async function stopAll(started: { nodes?: FtpNodes | undefined; balancer?: Running | undefined }): Promise<void> {
  const { balancer, nodes } = started;
  started.balancer = undefined;
  started.nodes = undefined;
  try {
    if (balancer && balancer.child.exitCode === null && balancer.child.signalCode === null) {
      balancer.child.kill('SIGTERM');
      const finished = await withTimeout(balancer.exited, 30_000, 'the balancer to exit on SIGTERM').catch((err) => {
        balancer.child.kill('SIGKILL');
        throw err;
      });
      assert.is(finished.code, 0, finished.stderr);
    }
  } finally {
    if (nodes) await stopFtpNodes(nodes);
  }
}

/** The data port a passive reply announced, and (PASV only) the address. */
function announced(trace: string, mode: PassiveMode): { address: string | undefined; port: number } {
  if (mode === 'epsv') {
    const m = /^< 229 .*\(\|\|\|(\d+)\|\)/m.exec(trace);
    assert.ok(m, `an EPSV reply in: ${trace}`);
    return { address: undefined, port: Number(m[1]) };
  }
  const m = /^< 227 .*\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/m.exec(trace);
  assert.ok(m, `a PASV reply in: ${trace}`);
  return { address: m.slice(1, 5).join('.'), port: Number(m[5]) * 256 + Number(m[6]) };
}

/** Lines of a vsftpd log that record a complete download of big.bin. */
function bigDownloads(log: string): number {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('OK DOWNLOAD') && l.includes(`"/big.bin", ${BIG_SIZE} bytes`)).length;
}

const scenario = suite('examples/passive-ftp: vsftpd behind the balancer, passive mode');

scenario('a 5 MB file over EPSV and PASV arrives whole, from both nodes, each client kept on one', async () => {
  requireFtpTools();
  const started: { nodes?: FtpNodes; balancer?: Running } = {};
  try {
    const t0 = Date.now();
    const d = await deploy(started);
    const setUpMs = Date.now() - t0;
    const downloads = tmpDir();
    const servedBy = new Map<string, string>(); // client address → node id
    const perNode = new Map<string, number>(); // node id → big.bin downloads
    const timings: string[] = [];

    for (const client of CLIENTS) {
      if (new Set(servedBy.values()).size >= 2) break;
      for (const mode of ['epsv', 'pasv'] as const) {
        const id = path.join(downloads, `${client}-${mode}`);
        const began = Date.now();
        const r = await curlFtp(d.controlPort, client, mode, [['node.txt', `${id}.node`], ['big.bin', `${id}.bin`]]);
        const tookMs = Date.now() - began;
        assert.is(r.code, 0, `curl ${mode} from ${client}: ${r.trace}`);

        // Both data connections followed the control connection to one node.
        const node = readFileSync(`${id}.node`, 'utf8').trim();
        assert.ok(['a', 'b'].includes(node), `node.txt says ${node}`);
        const data = readFileSync(`${id}.bin`);
        assert.is(data.length, BIG_SIZE, `${mode} from ${client}: size`);
        assert.is(sha256(data), d.nodes.bigSha256, `${mode} from ${client}: sha256`);
        // Affinity: a client's later sessions go to the node of its first.
        assert.is(servedBy.get(client) ?? node, node, `${client} stays on one node`);
        servedBy.set(client, node);
        timings.push(`${client} ${mode} → ${node} ${tookMs} ms`);
        perNode.set(node, (perNode.get(node) ?? 0) + 1);

        // The node announced the balancer's address (PASV) and a port of the forwarded range.
        const reply = announced(r.trace, mode);
        if (mode === 'pasv') assert.is(reply.address, '127.0.0.1', 'pasv_address: the balancer');
        assert.ok(reply.port >= d.range[0] && reply.port <= d.range[1], `data port ${reply.port} in ${d.range.join('-')}`);
      }
    }
    assert.equal([...new Set(servedBy.values())].sort(), ['a', 'b'], `both nodes served: ${[...servedBy].join(' ')}`);

    // Each node's own log has exactly the whole downloads we counted for it.
    for (const [node, log] of d.nodes.logs) assert.is(bigDownloads(log), perNode.get(node) ?? 0, `node ${node}'s log`);

    // No connection was dialled to a node that refused it: every data connection reached
    // the node holding its passive port on the first try.
    const status = await runCli(['status', '--json'], d.env, d.dir);
    assert.is(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { clusters: { nodes: { key: string; failures: number; fallovers: number }[] }[] };
    for (const n of s.clusters[0]!.nodes) {
      assert.is(n.failures, 0, `${n.key} failures: ${status.stdout}`);
      assert.is(n.fallovers, 0, `${n.key} fall-overs: ${status.stdout}`);
    }
    process.stdout.write(`\n  passive-ftp: set-up ${setUpMs} ms; ${timings.join(', ')}\n`);
  } finally {
    await stopAll(started);
  }
});

scenario.run();
