// Module hooks (module.register) for register.cjs: appends every file an ES module import resolves
// to, once, to `data.file` (one URL per line). Runs on Node's loader thread. A file rather than a
// MessagePort: on Node 20, register() with a transferred port from a --require preload kills the
// process (the hooks worker dies with an unhandled rejection before the hooks load).
import { appendFileSync } from 'node:fs';

let file;
const seen = new Set();

export async function initialize(data) {
  file = data?.file;
}

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (file && result.url.startsWith('file:') && !seen.has(result.url)) {
    seen.add(result.url);
    try {
      appendFileSync(file, `${result.url}\n`);
    } catch {
      file = undefined; // unwritable: stop trying
    }
  }
  return result;
}
