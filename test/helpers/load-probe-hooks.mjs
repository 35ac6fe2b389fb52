// The ES module half of load-probe.cjs: runs on Node's loader thread, in the same process.
import { appendFileSync } from 'node:fs';

let out = '';
export function initialize(data) {
  out = data.out;
}

export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(out, `${url}\n`);
  return next(url, context);
}
