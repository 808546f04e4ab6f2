/* global require, process, Buffer, console */
/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS service, as users write them */
'use strict';
// A service that knows nothing about tracing (run.mjs starts two): answers a POST, calling UP_URL
// first when it is set.
const http = require('http');
const up = process.env.UP_URL;
const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', async () => {
    let r = { ok: true, n: body.length };
    if (up)
      r = await new Promise((resolve, reject) => {
        const c = http.request(up, { method: 'POST', agent }, (x) => {
          let d = '';
          x.on('data', (k) => (d += k));
          x.on('end', () => resolve(JSON.parse(d)));
        });
        c.on('error', reject);
        c.end(body);
      });
    const text = JSON.stringify({ ...r, score: Math.random() });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
