// Runs every test/**/*.test.ts with uvu (under tsx), then prints the one closing line CI
// reads: `N passed, N failed`. Exit code: 0 only when every test passed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const pattern = process.argv[2] ?? '\\.test\\.ts$';
const child = spawn(
  process.execPath,
  ['--no-node-snapshot', '--import', 'tsx', path.join(root, 'node_modules/uvu/bin.js'), 'test', pattern],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
);
let out = '';
child.stdout.on('data', (chunk) => {
  out += chunk;
  process.stdout.write(chunk);
});
child.on('close', (code, signal) => {
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const failed = code === 0 && !signal ? total - passed : Math.max(total - passed, 1);
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
