/**
 * The TCP sockets a process holds, read from Linux's /proc (its fds → socket inodes →
 * /proc/net/tcp{,6}). At the soak's quiet moments every socket of the group other than
 * the listener should be gone; when one is left, its TCP state and ports say which side
 * (client or node) and how far the close got (CLOSE_WAIT: the peer has closed, the
 * balancer has not). Elsewhere than Linux: nothing is reported.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

export interface HeldSocket {
  state: string;
  localPort: number;
  remotePort: number;
}

/** Socket inode → entry, over IPv4 and IPv6. */
function tcpTable(): Map<string, HeldSocket> {
  const table = new Map<string, HeldSocket>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const [local, remote, st, inode] = [f[1], f[2], f[3], f[9]];
      if (!local || !remote || !st || !inode) continue;
      const port = (addr: string): number => parseInt(addr.slice(addr.lastIndexOf(':') + 1), 16);
      table.set(inode, { state: STATES[st] ?? st, localPort: port(local), remotePort: port(remote) });
    }
  }
  return table;
}

/** The TCP sockets `pid` holds, listeners left out. */
export function heldSockets(pid: number): HeldSocket[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const table = tcpTable();
  const out: HeldSocket[] = [];
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    const entry = inode === undefined ? undefined : table.get(inode);
    if (entry && entry.state !== 'LISTEN') out.push(entry);
  }
  return out;
}

/** `ESTABLISHED client :51234 → listener :4000`, with ports named by `names`. */
export function describeSocket(s: HeldSocket, names: ReadonlyMap<number, string>): string {
  const side = names.get(s.remotePort) ?? `:${s.remotePort}`;
  const local = names.get(s.localPort);
  return local ? `${s.state} ${local} ← client :${s.remotePort}` : `${s.state} :${s.localPort} → ${side}`;
}
