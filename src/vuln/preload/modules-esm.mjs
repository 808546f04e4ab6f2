/**
 * ESM half of the modules preload: `NODE_OPTIONS="--require modules.cjs --import modules-esm.mjs"`.
 * A module.register() load hook (it runs in the loader thread) reports each file URL under
 * node_modules over a MessagePort to the recorder that modules.cjs set up.
 */
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';

const note = globalThis.__rampartModulesNote;
if (typeof note === 'function') {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (url) => {
    if (typeof url === 'string' && url.startsWith('file:')) note(fileURLToPath(url));
  });
  port1.unref();
  const hooks =
    'let port;export function initialize(d){port=d.port}' +
    'export async function load(url,context,next){if(url.startsWith("file:")&&url.includes("/node_modules/"))port.postMessage(url);return next(url,context)}';
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, {
    data: { port: port2 },
    transferList: [port2],
  });
}
