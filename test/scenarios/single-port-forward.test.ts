/**
 * examples/single-port-forward: retargeted on the fly, as its README does it. The example's
 * config, copied to a temporary folder, forwards a free port (PB_FORWARD_PORT) to the
 * example's stand-in relay-a (relay.mjs, PB_SMTP_RELAY); the admin API is on a free port
 * (PB_ADMIN_PORT). Clients connect all along. The relay's address is edited in the file
 * (to relay-b), then moved back from the CLI (`node smtp/relay-a add`, `node smtp/relay
 * remove`). Sessions opened before each move stay on their relay and keep working, no
 * connection fails, and the balancer is the same process throughout.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli, startCli, watch, type Running } from '../helpers/cli.ts';
import { freePort, waitFor, withTimeout } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

const EXAMPLE = path.join(ROOT, 'examples', 'single-port-forward');
/** The line of the config the README tells a user to edit. */
const RELAY_LINE = "address: process.env.PB_SMTP_RELAY ?? '127.0.0.1:25'";

/** The example's stand-in relay on a free port, as its README starts it (a few ports tried). */
async function startRelay(name: string): Promise<{ port: number; run: Running }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const run = watch(spawn(process.execPath, [path.join(EXAMPLE, 'relay.mjs'), name, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
    if (await run.waitForOutput('listening on', 10_000).then(() => true, () => false)) return { port, run };
    await stop(run);
  }
  throw new Error(`no free port for ${name}`);
}

async function stop(run: Running): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  await withTimeout(run.exited, 10_000, 'a relay to exit');
}

/** An SMTP-like session through the balancer: the relay's lines, one at a time. */
class Session {
  private readonly lines: string[] = [];
  private readonly waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  private partial = '';
  /** Why no more lines can come, once the connection is closed. */
  private ended: Error | undefined;
  private constructor(private readonly socket: net.Socket) {
    let error: Error | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts.map((l) => l.trim()));
      this.flush();
    });
    socket.on('error', (err) => (error = err));
    socket.on('close', () => {
      this.ended = error ?? new Error('closed by the other side');
      this.flush();
    });
  }

  static open(port: number): Promise<Session> {
    return withTimeout(
      new Promise<Session>((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.once('connect', () => resolve(new Session(socket)));
        socket.once('error', reject);
      }),
      5_000,
      'a connection to the forward',
    );
  }

  private flush(): void {
    while (this.waiting.length > 0 && this.lines.length > 0) this.waiting.shift()!.resolve(this.lines.shift()!);
    if (this.ended) for (const w of this.waiting.splice(0)) w.reject(this.ended);
  }

  /** The next line the relay sends (bounded), or the reason none can come. */
  line(): Promise<string> {
    const next = new Promise<string>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.flush();
    });
    return withTimeout(next, 5_000, 'a line from the relay');
  }

  /** The relay's name, from its answer to `command` (or its greeting when none). */
  async ask(command?: string): Promise<string> {
    if (command) this.socket.write(`${command}\r\n`);
    const line = await this.line();
    return /^2\d\d (\S+)/.exec(line)?.[1] ?? `? ${line}`;
  }

  /** QUIT, its answer, and the relay's end of the connection. */
  async quit(): Promise<string> {
    const closed = new Promise<void>((resolve) => (this.socket.closed ? resolve() : this.socket.once('close', () => resolve())));
    const name = await this.ask('QUIT');
    await withTimeout(closed, 5_000, 'the relay to close after QUIT');
    return name;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** One short session: greeting, QUIT; the relay that served it. */
async function greet(port: number): Promise<string> {
  const session = await Session.open(port);
  try {
    const name = await session.ask();
    const bye = await session.quit();
    return name === bye ? name : `${name} then ${bye}`;
  } finally {
    session.destroy();
  }
}

/**
 * Clients connecting in a loop, each session tagged with the phase it started in, until
 * stopped. Phases: a number the test raises as it moves the forward.
 */
function traffic(port: number, clients: number) {
  const served: { phase: number; relay: string }[] = [];
  const failures: string[] = [];
  let phase = 0;
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const started = phase;
      try {
        served.push({ phase: started, relay: await greet(port) });
      } catch (err) {
        failures.push(`phase ${started}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 5)); // two cores shared: leave some to the balancer
    }
  });
  return {
    served,
    failures,
    setPhase: (next: number) => void (phase = next),
    /** Wait (bounded) until at least `count` sessions started in the current phase are done. */
    until: (count: number) => waitFor(() => served.filter((s) => s.phase === phase).length >= count, 20_000, `${count} sessions in phase ${phase}`),
    relaysIn: (p: number) => [...new Set(served.filter((s) => s.phase === p).map((s) => s.relay))].sort(),
    stop: async () => {
      running = false;
      await withTimeout(Promise.all(loops), 15_000, 'the clients to stop');
    },
  };
}

const scenario = suite('examples/single-port-forward: retargeted live');

scenario('a file edit moves new clients to relay-b, the CLI moves them back; open sessions stay', async () => {
  const relayA = await startRelay('relay-a');
  const relayB = await startRelay('relay-b');
  let balancer: Running | undefined;
  let clients: ReturnType<typeof traffic> | undefined;
  const sessions: Session[] = [];
  try {
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = { PB_FORWARD_PORT: String(port), PB_SMTP_RELAY: `127.0.0.1:${relayA.port}`, PB_ADMIN_PORT: String(adminPort), PB_ADMIN_HOST: '' };
    const config = readFileSync(path.join(EXAMPLE, 'protobalance.config.ts'), 'utf8');
    assert.ok(config.includes(RELAY_LINE), 'the line the README edits is in the config');
    const dir = tmpDir({ 'protobalance.config.ts': config });
    const file = path.join(dir, 'protobalance.config.ts');
    const run = startCli(['start'], env, dir);
    balancer = run;
    await run.waitForOutput('admin API on', 30_000);
    const pid = run.child.pid;

    const onA = await Session.open(port);
    sessions.push(onA);
    assert.is(await onA.ask(), 'relay-a', 'PB_SMTP_RELAY is where the forward goes');
    clients = traffic(port, 3);
    await clients.until(10);

    // 1. The README's edit: the relay's address, written over with relay-b's, and saved.
    // The watcher starts just after the start line and says nothing when ready: an edit
    // made before it watches is missed, so the edit is saved again (bounded) until seen.
    const edited = config.replace(RELAY_LINE, `address: '127.0.0.1:${relayB.port}'`);
    clients.setPhase(1);
    const reloaded = () => run.stderr().includes('config reloaded') || run.stderr().includes('reload failed');
    for (let save = 1; !reloaded(); save++) {
      assert.ok(save <= 10, `no reload after ${save - 1} saves; stderr: ${run.stderr()}`);
      writeFileSync(file, `${edited}\n// save ${save}\n`);
      await waitFor(reloaded, 2_000, 'a reload').catch(() => undefined);
    }
    assert.not.match(run.stderr(), 'reload failed');
    clients.setPhase(2);
    await clients.until(20);
    assert.equal(clients.relaysIn(0), ['relay-a'], 'before the edit: relay-a');
    assert.equal(clients.relaysIn(2), ['relay-b'], 'after the reload: every new client on relay-b');
    assert.is(await onA.ask('NOOP'), 'relay-a', 'the session opened before the edit is still on relay-a');
    const onB = await Session.open(port);
    sessions.push(onB);
    assert.is(await onB.ask(), 'relay-b');

    // 2. The README's way back from the CLI: relay-a added as a node, then `relay` removed.
    clients.setPhase(3);
    const add = await runCli(['node', 'smtp/relay-a', 'add', `127.0.0.1:${relayA.port}`], env, dir);
    assert.is(add.code, 0, add.stderr);
    assert.match(add.stdout, 'smtp/relay-a added');
    const remove = await runCli(['node', 'smtp/relay', 'remove'], env, dir);
    assert.is(remove.code, 0, remove.stderr);
    assert.match(remove.stdout, 'smtp/relay removed');
    clients.setPhase(4);
    await clients.until(20);
    assert.equal(clients.relaysIn(4), ['relay-a'], 'after the remove: every new client on relay-a');
    assert.is(await onB.ask('NOOP'), 'relay-b', 'the session opened on relay-b goes on after its node is removed');
    assert.is(await onA.ask('NOOP'), 'relay-a', 'and the first one still on relay-a');

    const status = await runCli(['status', '--json'], env, dir);
    assert.is(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { clusters: { nodes: { key: string; address: string }[] }[] };
    assert.equal(s.clusters[0]!.nodes.map((n) => `${n.key} ${n.address}`), [`smtp/relay-a 127.0.0.1:${relayA.port}`]);

    await clients.stop();
    assert.equal(clients.failures, [], 'no client failed');
    assert.equal([...new Set(clients.served.map((c) => c.relay))].sort(), ['relay-a', 'relay-b'], 'served by the two relays only');
    assert.is(await onA.quit(), 'relay-a');
    assert.is(await onB.quit(), 'relay-b');
    // No restart: the same process served from the first client to the last, started once.
    assert.is(run.child.pid, pid);
    assert.is(run.child.exitCode, null, 'the balancer still runs');
    assert.is(run.stdout().split('accepting connections').length - 1, 1, 'started once');
  } finally {
    await clients?.stop().catch(() => undefined);
    for (const session of sessions) session.destroy();
    if (balancer) {
      balancer.child.kill('SIGTERM');
      const finished = await withTimeout(balancer.exited, 30_000, 'the balancer to exit on SIGTERM');
      assert.is(finished.code, 0, finished.stderr);
    }
    await stop(relayA.run);
    await stop(relayB.run);
  }
});

scenario.run();
