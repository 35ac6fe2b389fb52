#!/usr/bin/env -S node --no-node-snapshot
// The `protobalance` command. Registers the TypeScript loader (the package ships its
// TypeScript sources, and configs and policies are TypeScript), then runs the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../core/cli.ts');
