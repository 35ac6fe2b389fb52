/**
 * examples/controller: every client moved to cluster green and back while traffic flows,
 * as its README does it (`protobalance route web green`, then `route web blue`). The
 * example's config and the demo-nodes plugin it imports are copied to a temporary folder
 * (same layout) and started with free ports (PB_CONTROLLER_PORT, PB_CONTROLLER_ADMIN_PORT,
 * PB_CONTROLLER_NODE_PORTS). Clients open a new connection per request all along, and a
 * few keep-alive connections are held across the switches: no request fails, every request
 * started after a switch answered is served by the new cluster, and every connection
 * opened before a switch is served to its end by the cluster it started on.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli, startCli, type Running } from '../helpers/cli.ts';
import { freePort, waitFor, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

/**
 * Where the test stands, raised as it goes. A request is tagged with the phase it started
 * in: only the phases after a `route` command has answered say which cluster must serve.
 */
const Phase = { Blue: 0, SwitchingToGreen: 1, Green: 2, SwitchingToBlue: 3, BlueAgain: 4 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

interface Answer {
  phase: Phase;
  node: string;
}

/** The demo node that answered one GET through the balancer (x-demo-node), and the socket it came on. */
function get(port: number, agent: http.Agent | false): Promise<{ node: string; socket: Socket }> {
  const answer = new Promise<{ node: string; socket: Socket }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      const node = res.headers['x-demo-node'];
      res.resume();
      res.on('end', () => (res.statusCode === 200 && typeof node === 'string' ? resolve({ node, socket: res.socket }) : reject(new Error(`status ${res.statusCode}, node ${String(node)}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  return withTimeout(answer, 5_000, 'an answer through the balancer');
}

const clusterOf = (node: string) => node.replace(/-\d+$/, '');
const pause = () => new Promise((r) => setTimeout(r, 5)); // two cores shared: leave some to the balancer

/** Requests in a loop until stopped, each on a new connection (agent: false) or all on one kept-alive connection. */
function client(port: number, phase: () => Phase, keepAlive: boolean) {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  const answers: Answer[] = [];
  const failures: string[] = [];
  const sockets = new Set<Socket>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = phase();
      try {
        const { node, socket } = await get(port, agent);
        answers.push({ phase: started, node });
        sockets.add(socket);
      } catch (err) {
        failures.push(`phase ${started}: ${(err as Error).message}`);
      }
      await pause();
    }
  })();
  return {
    answers,
    failures,
    sockets,
    in: (p: Phase) => answers.filter((a) => a.phase === p),
    /** Stop asking; a kept-alive connection is then closed by the client, as a browser would. */
    stop: async () => {
      running = false;
      await withTimeout(loop, 15_000, 'a client to stop');
      if (agent) agent.destroy();
    },
  };
}
type Client = ReturnType<typeof client>;

const scenario = suite('examples/controller: blue to green and back under traffic');

scenario('route web green, then route web blue: no failed request, open connections stay', async () => {
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const [port, adminPort, nodePorts] = [ports[0]!, ports[1]!, ports.slice(2)];
  const env = { PB_CONTROLLER_PORT: String(port), PB_CONTROLLER_ADMIN_PORT: String(adminPort), PB_CONTROLLER_NODE_PORTS: nodePorts.join(','), PB_ADMIN_HOST: '' };
  const dir = tmpDir({
    'controller/protobalance.config.ts': readFileSync(path.join(ROOT, 'examples/controller/protobalance.config.ts'), 'utf8'),
    'demo-nodes/plugin.ts': readFileSync(path.join(ROOT, 'examples/demo-nodes/plugin.ts'), 'utf8'),
  });
  const cwd = path.join(dir, 'controller');
  let phase: Phase = Phase.Blue;
  const now = () => phase;
  const clients: Client[] = [];
  let balancer: Running | undefined;
  try {
    balancer = startCli(['start'], env, cwd);
    await balancer.waitForOutput('admin API on', 30_000);
    const route = async (cluster: string) => {
      const r = await runCli(['route', 'web', cluster], env, cwd);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stdout, `listener web now sends new clients to cluster ${cluster}`);
    };
    /** Wait (bounded) until each of `of` has `count` answers to requests started in phase `p`. */
    const answered = (of: Client[], p: Phase, count: number) =>
      waitFor(() => of.every((c) => c.in(p).length >= count), 20_000, `${count} answers each in phase ${p}`);

    const fresh = Array.from({ length: 4 }, () => client(port, now, false));
    const keptFromBlue = Array.from({ length: 3 }, () => client(port, now, true));
    clients.push(...fresh, ...keptFromBlue);
    await answered(clients, Phase.Blue, 10);

    phase = Phase.SwitchingToGreen;
    await route('green');
    phase = Phase.Green;
    const keptFromGreen = Array.from({ length: 2 }, () => client(port, now, true));
    clients.push(...keptFromGreen);
    await answered(clients, Phase.Green, 10);

    phase = Phase.SwitchingToBlue;
    await route('blue');
    phase = Phase.BlueAgain;
    await answered(clients, Phase.BlueAgain, 10);
    for (const c of clients) await c.stop();

    assert.equal(clients.flatMap((c) => c.failures), [], 'no request failed');
    const clustersIn = (p: Phase) => [...new Set(fresh.flatMap((c) => c.in(p).map((a) => clusterOf(a.node))))].sort();
    assert.equal(clustersIn(Phase.Blue), ['blue'], 'new connections on blue before the switch');
    assert.equal(clustersIn(Phase.Green), ['green'], 'every new connection on green once `route web green` answered');
    assert.equal(clustersIn(Phase.BlueAgain), ['blue'], 'every new connection on blue once `route web blue` answered');
    // Connections opened before a switch: one connection each, served to its end by the
    // one node it started on, in the cluster it started on, through both switches.
    for (const [kept, cluster, last] of [
      [keptFromBlue, 'blue', Phase.BlueAgain],
      [keptFromGreen, 'green', Phase.BlueAgain],
    ] as const) {
      for (const c of kept) {
        assert.is(c.sockets.size, 1, 'one kept-alive connection, never reopened');
        const nodes = [...new Set(c.answers.map((a) => a.node))];
        assert.is(nodes.length, 1, `one node served it: ${nodes.join(', ')}`);
        assert.is(clusterOf(nodes[0]!), cluster, `opened on ${cluster}, finished on ${cluster}`);
        assert.ok(c.in(last).length > 0, 'still answered after the last switch');
      }
    }
    assert.ok(keptFromBlue.every((c) => c.in(Phase.Green).length > 0), 'blue connections answered while green took new clients');

    const status = await runCli(['status', '--json'], env, cwd);
    assert.is(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { listeners: { listener: string; cluster: string }[] };
    assert.equal(s.listeners.map((l) => `${l.listener} -> ${l.cluster}`), ['web -> blue']);
  } finally {
    for (const c of clients) await c.stop().catch(() => undefined);
    if (balancer) {
      balancer.child.kill('SIGTERM');
      const finished = await withTimeout(balancer.exited, 40_000, 'the balancer to exit on SIGTERM');
      assert.is(finished.code, 0, finished.stderr);
    }
  }
});

scenario.run();
