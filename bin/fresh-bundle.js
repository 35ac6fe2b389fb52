// Whether the prebuilt bundle (dist/, `npm run build`) may run: it exists, and either
// this is an installed copy (no sources beside it) or none of the sources it was built
// from (dist/inputs.json) changed since. Plain JavaScript: it runs before any TypeScript
// loader.
import { existsSync, readFileSync, statSync } from 'node:fs';

/** @param {URL} root the package folder, ending in '/' */
export function freshBundle(root, env = process.env) {
  if (env.PROTOBALANCE_FROM_SOURCE === '1') return false;
  try {
    const { builtAt, sources } = JSON.parse(readFileSync(new URL('dist/inputs.json', root), 'utf8'));
    if (!existsSync(new URL('core/index.ts', root))) return true;
    return Array.isArray(sources) && sources.length > 0 && sources.every((file) => statSync(new URL(file, root)).mtimeMs < builtAt);
  } catch {
    return false;
  }
}
