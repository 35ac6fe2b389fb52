/**
 * Headless Chromium for end-to-end tests of the dashboard, driven by playwright-core.
 * Playwright never downloads a browser here: we use the system's (Debian's `chromium`,
 * installed with apt-get in CI). No browser is a failure with a clear message, never a
 * skip: a skipped browser test would pass CI without testing the page.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `CHROMIUM_PATH`, else /usr/bin/chromium, else `chromium-browser` on PATH; throws when none is there. */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (executable(fromEnv)) return fromEnv;
    throw new Error(`CHROMIUM_PATH=${fromEnv} is not an executable file`);
  }
  if (executable('/usr/bin/chromium')) return '/usr/bin/chromium';
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, 'chromium-browser');
    if (executable(file)) return file;
  }
  throw new Error(
    'no Chromium for the dashboard tests: install it (apt-get install chromium) or set CHROMIUM_PATH to its executable',
  );
}

/** A headless browser; close it in a `finally`. `--no-sandbox` because tests run as root. */
export function launchChromium(timeout = 15_000): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, timeout, args: ['--no-sandbox'] });
}
