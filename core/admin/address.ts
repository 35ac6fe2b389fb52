/**
 * Where the admin API listens. `start`'s flags (`--admin-host`, `--admin-port`) beat the
 * environment (PB_ADMIN_HOST, PB_ADMIN_PORT), which beats the config's `admin` block
 * (default 127.0.0.1:9100). The control commands resolve it the same way (without flags),
 * so `protobalance status` finds the balancer that `PB_ADMIN_PORT=9200 protobalance start`
 * started. The environment is for deployments that place one config on several machines
 * or run two balancers side by side. `admin: false` in the config means no admin API:
 * neither environment nor flags turn it back on (the config's word is the deliberate one).
 */
import { ErrorCodes, pbError } from '../errors.ts';
import type { ResolvedConfig } from '../types.ts';

/**
 * The header every admin server answer carries (the version as its value): the control
 * commands refuse an answer without it, so that they never act on another server that
 * happens to hold the port.
 */
export const MARK_HEADER = 'x-protobalance';

export interface AdminFlags {
  adminHost?: string;
  adminPort?: string;
}

export interface AdminAddress {
  host: string;
  port: number;
  /** Where the port came from, for error messages: 'admin.port', 'PB_ADMIN_PORT' or '--admin-port'. */
  portFrom: string;
  /** Where the host came from, likewise. */
  hostFrom: string;
}

function port(text: string, from: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 65535) {
    throw pbError(ErrorCodes.CONFIG_INVALID, `${from}: expected a port 0-65535, got ${JSON.stringify(text)}`);
  }
  return n;
}

function host(text: string, from: string): string {
  if (text.trim() === '') throw pbError(ErrorCodes.CONFIG_INVALID, `${from}: expected a host name or address, got ""`);
  return text.trim();
}

/** The admin API's address, or undefined when the config says `admin: false`. */
export function adminAddress(config: ResolvedConfig, flags: AdminFlags = {}, env: NodeJS.ProcessEnv = process.env): AdminAddress | undefined {
  if (!config.admin.enabled) return undefined;
  const a: AdminAddress = { host: config.admin.host, port: config.admin.port, hostFrom: 'admin.host', portFrom: 'admin.port' };
  // Empty variables count as unset, as a shell's `PB_ADMIN_PORT= cmd` intends.
  if (env.PB_ADMIN_HOST) Object.assign(a, { host: host(env.PB_ADMIN_HOST, 'PB_ADMIN_HOST'), hostFrom: 'PB_ADMIN_HOST' });
  if (env.PB_ADMIN_PORT) Object.assign(a, { port: port(env.PB_ADMIN_PORT, 'PB_ADMIN_PORT'), portFrom: 'PB_ADMIN_PORT' });
  if (flags.adminHost !== undefined) Object.assign(a, { host: host(flags.adminHost, '--admin-host'), hostFrom: '--admin-host' });
  if (flags.adminPort !== undefined) Object.assign(a, { port: port(flags.adminPort, '--admin-port'), portFrom: '--admin-port' });
  return a;
}

/** `http://host:port/api`, brackets round an IPv6 host. */
export function adminUrl(a: { host: string; port: number }): string {
  return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/api`;
}
