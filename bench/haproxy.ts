/**
 * HAProxy as the reference L4 proxy: `mode tcp`, `nbthread 2`, no logging, one frontend and
 * one single-server backend per service, run in the foreground (`-db`) so the pid we spawn
 * is the process doing the work. Timeouts are long enough that idle connections held for the
 * memory figure are not cut; `maxconn` is raised so they all fit.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { absentReason, type Tool } from './external.ts';
import { SERVICES, type Addresses, type Launch, type Ports, type ProxyKind } from './proxies.ts';

function configText(ports: Ports, upstreams: Addresses, maxconn: number): string {
  const blocks = SERVICES.map(
    (s) => `frontend fe_${s}
  bind 127.0.0.1:${ports[s]}
  default_backend be_${s}

backend be_${s}
  server ${s} ${upstreams[s]}
`,
  );
  return `# written by bench/haproxy.ts for one benchmark run
global
  nbthread 2
  maxconn ${maxconn}

defaults
  mode tcp
  maxconn ${maxconn}
  timeout connect 2s
  timeout client 5m
  timeout server 5m

${blocks.join('\n')}`;
}

/** `maxconn`: at least the idle connections held at once, plus the load phases' share. */
export function haproxy(tool: Tool, maxconn: number): ProxyKind {
  return {
    key: 'haproxy',
    label: 'HAProxy',
    missing: absentReason(tool),
    async prepare(dir: string, ports: Ports, upstreams: Addresses): Promise<Launch> {
      const file = path.join(dir, `haproxy-${ports.echo}.cfg`);
      await writeFile(file, configText(ports, upstreams, maxconn));
      return { file: tool.path!, args: ['-db', '-f', file] };
    },
  };
}

/** For the report: the settings that matter, in HAProxy's own words. */
export const HAPROXY_SETTINGS = '`haproxy -db -f <cfg>`: `nbthread 2`, `mode tcp`, no `log` line, global and default `maxconn` above the idle count';
