/**
 * What the side-by-side benchmark needs from any proxy under test (Proto Balance with
 * client affinity off and on, HAProxy, nginx): three TCP listeners on 127.0.0.1, each forwarding to one backend, started from a
 * generated config and timed from spawn to the first byte echoed through it. Each proxy's
 * own file only writes its config and names its command line; starting, timing and stopping
 * are the same for all, so no proxy is measured differently.
 */
import { startExternal, type External } from './external.ts';
import { freePort, waitForReply } from './probe.ts';

/** The services each proxy forwards: requests (HTTP or the Node request/response server), bulk, idle/echo. */
export const SERVICES = ['req', 'bulk', 'echo'] as const;
export type Service = (typeof SERVICES)[number];
export type Addresses = Record<Service, string>;
export type Ports = Record<Service, number>;

export interface RunningProxy {
  readonly label: string;
  /** Root of the process tree whose CPU and memory are counted. */
  readonly pid: number;
  readonly ports: Ports;
  /** ms from spawn until a byte sent to the echo listener came back through the proxy. */
  readonly readyMs: number;
  stop(): Promise<void>;
}

export interface Launch {
  file: string;
  args: string[];
  cwd?: string;
  /** How the proxy prefers to be stopped (nginx: SIGQUIT would wait for idle clients; SIGTERM is its fast stop). */
  stopSignal?: NodeJS.Signals;
}

/** The proxies under test; Proto Balance twice, with client affinity off and on. */
export type ProxyKey = 'protobalance' | 'protobalance-affinity' | 'haproxy' | 'nginx';

export interface ProxyKind {
  readonly key: ProxyKey;
  readonly label: string;
  /** Why it cannot run here (not installed, module missing), or undefined. */
  readonly missing: string | undefined;
  /** The command line and config for listeners on `ports` forwarding to `upstreams`, written under `dir`. */
  prepare(dir: string, ports: Ports, upstreams: Addresses): Promise<Launch>;
}

export async function freePorts(): Promise<Ports> {
  // Held one at a time, so the OS could hand out the same number twice: ask again until distinct.
  const ports: number[] = [];
  while (ports.length < SERVICES.length) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return { req: ports[0]!, bulk: ports[1]!, echo: ports[2]! };
}

let serial = 0;

/** Start `kind` in a fresh config under `dir` and wait until it forwards. */
export async function startProxy(kind: ProxyKind, dir: string, upstreams: Addresses, timeoutMs: number): Promise<RunningProxy> {
  const ports = await freePorts();
  const launch = await kind.prepare(dir, ports, upstreams);
  const started = performance.now();
  const ext: External = startExternal(`${kind.key}-${++serial}`, launch.file, launch.args, { cwd: launch.cwd });
  try {
    await waitForReply(ports.echo, 'x', timeoutMs, () => (ext.exited() ? `${kind.label} exited before it forwarded:\n${ext.output().trim()}` : undefined));
  } catch (err) {
    await ext.stop('SIGKILL', 0);
    throw err;
  }
  const readyMs = performance.now() - started;
  return {
    label: kind.label,
    pid: ext.pid,
    ports,
    readyMs,
    stop: () => ext.stop(launch.stopSignal ?? 'SIGTERM'),
  };
}
