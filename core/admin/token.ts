/**
 * The admin API's bearer token: the config's `admin.token`, else the environment variable
 * PB_ADMIN_TOKEN (for deployments that hand secrets in by environment), else `<stateDir>/admin-token`,
 * made on first start with 32 random bytes and mode 0600, so that only the balancer's
 * user can read it. The CLI reads the same file.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lazyBuiltin } from '../lazy-builtin.ts';

const crypto = lazyBuiltin<typeof import('node:crypto')>('node:crypto');
export const TOKEN_FILE = 'admin-token';

export function adminToken(configured: string | undefined, stateDir: string): string {
  if (configured) return configured;
  if (process.env.PB_ADMIN_TOKEN) return process.env.PB_ADMIN_TOKEN;
  const file = path.join(stateDir, TOKEN_FILE);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch {
    // made below
  }
  const token = crypto().randomBytes(32).toString('base64url');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/** Constant-time comparison of a presented token with the real one. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && crypto().timingSafeEqual(a, b);
}
