/**
 * The shape of the code: the core names no plugin, plugins use only the public entry,
 * and no import cycle runs through the public entry (core/index.ts). Read from the
 * sources' import statements, as a reviewer would.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    return statSync(path.join(root, rel)).isDirectory() ? files(rel) : /\.(ts|js)$/.test(name) ? [rel] : [];
  });
}

/** What a file imports at run time: static imports and re-exports, not `import type`, and dynamic imports apart. */
export function importsOf(text: string): { static: string[]; dynamic: string[] } {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const statics = [...code.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  const dynamic = [...code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
  return { static: statics, dynamic };
}

const resolveFrom = (file: string, spec: string) => path.normalize(path.join(path.dirname(file), spec));

const house = suite('house: what imports what');

house('the core imports no plugin and nothing of app/', () => {
  const offenders: string[] = [];
  for (const file of files('core')) {
    const { static: s, dynamic: d } = importsOf(readFileSync(path.join(root, file), 'utf8'));
    for (const spec of [...s, ...d]) {
      const target = spec.startsWith('.') ? resolveFrom(file, spec) : spec;
      if (/^(plugins|app)\//.test(target) || spec.startsWith('protobalance/')) offenders.push(`${file} → ${spec}`);
    }
  }
  assert.equal(offenders, []);
});

house('plugins import the core only through the public entry', () => {
  const offenders: string[] = [];
  for (const file of files('plugins')) {
    const { static: s, dynamic: d } = importsOf(readFileSync(path.join(root, file), 'utf8'));
    for (const spec of [...s, ...d]) {
      if (spec.startsWith('.') && !resolveFrom(file, spec).startsWith('plugins/')) offenders.push(`${file} → ${spec}`);
    }
  }
  assert.equal(offenders, []);
});

/** A cycle of static imports through `start`, as the list of files round it, or undefined. */
export function cycleThrough(start: string, graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const seen = new Set<string>();
  const walk = (file: string, trail: string[]): string[] | undefined => {
    for (const next of graph.get(file) ?? []) {
      if (next === start) return [...trail, next];
      if (seen.has(next)) continue;
      seen.add(next);
      const found = walk(next, [...trail, next]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(start, [start]);
}

house('no static import cycle runs through core/index.ts', () => {
  const graph = new Map<string, string[]>();
  for (const file of [...files('core'), ...files('plugins'), ...files('app')]) {
    const { static: s } = importsOf(readFileSync(path.join(root, file), 'utf8'));
    graph.set(
      file,
      s.map((spec) => (spec === 'protobalance' ? 'core/index.ts' : spec.startsWith('.') ? resolveFrom(file, spec) : spec)),
    );
  }
  assert.equal(cycleThrough('core/index.ts', graph), undefined);
  // The check itself finds a cycle when there is one.
  const withCycle = new Map(graph);
  withCycle.set('core/define.ts', [...(graph.get('core/define.ts') ?? []), 'core/index.ts']);
  assert.equal(cycleThrough('core/index.ts', withCycle), ['core/index.ts', 'core/define.ts', 'core/index.ts']);
});

house('the import reader skips type-only imports and reads re-exports', () => {
  const text = `import type { A } from './a.ts';\nimport { b } from './b.ts';\nexport { c } from './c.ts';\nexport type { D } from './d.ts';\nimport './e.ts';\nconst f = () => import('./f.ts');`;
  assert.equal(importsOf(text), { static: ['./b.ts', './c.ts', './e.ts'], dynamic: ['./f.ts'] });
});

house.run();
