// The demo's front: answers on port 80 (an unprivileged user may bind it inside its namespace),
// reads its config the rc way and calls `api` by name: it knows nothing about where api runs.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const conf = require('rc')('web', { greeting: 'hi', upstream: { timeoutMs: 1000 } });
const replica = process.env.RAMPART_REPLICA_ID ?? 'web';

function callApi(path) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: 'api',
        port: Number(process.env.API_PORT ?? 8080),
        path,
        timeout: Number(conf.upstream.timeoutMs),
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('upstream timeout')));
    req.on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.url === '/whoami') return res.end(replica);
  if (req.url === '/config')
    return res.end(
      JSON.stringify({ greeting: conf.greeting, sessionKeySet: typeof conf.sessionKey === 'string' }),
    );
  try {
    const api = await callApi('/visits');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ greeting: conf.greeting, servedBy: replica, api: JSON.parse(api.body) }));
  } catch (error) {
    res.statusCode = 502;
    res.end(JSON.stringify({ error: error.message }));
  }
});
server.listen(80, () =>
  console.log(JSON.stringify({ level: 'info', msg: 'web listening', port: 80, replica })),
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
