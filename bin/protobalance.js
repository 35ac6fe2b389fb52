#!/usr/bin/env -S node --no-node-snapshot
// The `protobalance` command. Runs the prebuilt bundle (dist/, made by `npm run build` at
// install) when it is up to date with the sources; otherwise registers the TypeScript
// loader and runs the sources (a developer's edit is never hidden by a stale bundle).
// PROTOBALANCE_FROM_SOURCE=1 always runs the sources.
import { readFileSync, statSync } from 'node:fs';

function freshBundle() {
  if (process.env.PROTOBALANCE_FROM_SOURCE === '1') return false;
  try {
    const root = new URL('../', import.meta.url);
    const { builtAt, sources } = JSON.parse(readFileSync(new URL('dist/inputs.json', root), 'utf8'));
    return sources.every((file) => statSync(new URL(file, root)).mtimeMs < builtAt);
  } catch {
    return false;
  }
}

if (freshBundle()) {
  await import('../dist/cli.mjs');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../core/cli.ts');
}
