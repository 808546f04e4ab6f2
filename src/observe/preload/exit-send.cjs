/* global require, process, Buffer, module */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/** The last spans of a process that calls process.exit(): sent by a child while it waits. */

// Runs in a child at exit: reads the body from stdin and POSTs it.
const SENDER = `
const [url, headers] = process.argv.slice(1);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
  const body = Buffer.concat(chunks);
  const u = new URL(url);
  const req = require(u.protocol === 'https:' ? 'node:https' : 'node:http').request(u, {
    method: 'POST',
    headers: { ...JSON.parse(headers), 'content-type': 'application/json', 'content-length': body.length },
  }, (res) => { res.resume(); res.on('end', () => process.exit(0)); });
  req.on('error', () => process.exit(1));
  req.setTimeout(2500, () => req.destroy());
  req.end(body);
});`;

/** process.exit() allows no asynchronous work: a child process does the request while we wait. */
function sendSync(url, headers, body) {
  const { spawnSync } = require('node:child_process');
  const childEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS; // not this preload again
  delete childEnv.RAMPART_MODULES_FILE;
  spawnSync(process.execPath, ['-e', SENDER, url, JSON.stringify(headers)], {
    input: Buffer.from(body),
    env: childEnv,
    stdio: ['pipe', 'ignore', 'ignore'],
    timeout: 3000,
  });
}

module.exports = { sendSync };
