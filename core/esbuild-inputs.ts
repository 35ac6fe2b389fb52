/**
 * An esbuild plugin that reads every source file itself, so that the digest of exactly
 * what went into a bundle is known (core/bundle-cache.ts validates entries by it): a file
 * edited while it was being bundled can never make a cache entry that looks current.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Loader, Plugin } from 'esbuild';
import { digest } from './bundle-cache.ts';

const LOADERS: Record<string, Loader> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.jsx': 'jsx',
  '.json': 'json',
};

export interface InputRecorder {
  plugin: Plugin;
  /** Absolute path → digest of the content bundled. */
  digests: Map<string, string>;
}

export function recordInputs(): InputRecorder {
  const digests = new Map<string, string>();
  const plugin: Plugin = {
    name: 'protobalance-inputs',
    setup(b) {
      b.onLoad({ filter: /.*/, namespace: 'file' }, (args) => {
        const loader = LOADERS[path.extname(args.path)];
        if (!loader) return undefined;
        const contents = readFileSync(args.path);
        digests.set(args.path, digest(contents));
        return { contents, loader, resolveDir: path.dirname(args.path) };
      });
    },
  };
  return { plugin, digests };
}
