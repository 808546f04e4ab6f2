import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium; RAMPART_CHROMIUM points elsewhere. Playwright never downloads a browser here. */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium for browser tests and the dashboard bench. */
export async function launchChromium(env: NodeJS.ProcessEnv = process.env): Promise<Browser> {
  const executablePath = env.RAMPART_CHROMIUM ?? CHROMIUM;
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install chromium (or set RAMPART_CHROMIUM)`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    // Root (CI) cannot use Chromium's user-namespace sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}
