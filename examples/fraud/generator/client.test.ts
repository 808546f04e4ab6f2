import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KeepAlivePool } from './client.ts';

const listen = async (server: net.Server): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
};

describe('traffic generator HTTP client', () => {
  let server: http.Server;
  let port: number;
  let connections = 0;
  const seen: { headers: http.IncomingHttpHeaders; body: string; url: string }[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body, url: req.url ?? '' });
        if (req.url === '/chunked') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"name":"Zoë ');
          setTimeout(() => res.end('Ünal"}'), 5);
        } else if (req.url === '/close') {
          res.writeHead(201, { connection: 'close', 'content-length': '2' });
          res.end('ok');
        } else if (req.url === '/silent') {
          // never answers
        } else {
          const out = JSON.stringify({ echo: body });
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(out),
          });
          res.end(out);
        }
      });
    });
    server.on('connection', () => connections++);
    port = await listen(server);
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('GIVEN several posts in turn THEN one kept-alive connection carries them, with headers and UTF-8 bodies intact', async () => {
    const pool = new KeepAlivePool({ host: '127.0.0.1', port, maxIdle: 4 });
    const before = connections;
    seen.length = 0;
    for (const text of ['{"a":1}', '{"name":"Łukasz Żółw"}', '{}']) {
      const r = await pool.post(
        '/echo',
        { 'content-type': 'application/json', 'x-api-key': 'k1' },
        text,
        2000,
      );
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body!.toString('utf8')), { echo: text });
    }
    assert.equal(connections - before, 1);
    assert.equal(pool.size, 1);
    assert.equal(seen[1]?.body, '{"name":"Łukasz Żółw"}');
    assert.equal(seen[1]?.headers['x-api-key'], 'k1');
    assert.equal(seen[1]?.headers.host, `127.0.0.1:${port}`);
    assert.equal(seen[1]?.headers['content-length'], String(Buffer.byteLength('{"name":"Łukasz Żółw"}')));
    pool.destroy();
  });

  it('GIVEN a chunked answer THEN its body is put together; a connection: close answer is not reused', async () => {
    const pool = new KeepAlivePool({ host: '127.0.0.1', port, maxIdle: 4 });
    const chunked = await pool.post('/chunked', {}, '{}', 2000);
    assert.equal(chunked.status, 200);
    assert.deepEqual(JSON.parse(chunked.body!.toString('utf8')), { name: 'Zoë Ünal' });
    const before = connections;
    for (let i = 0; i < 2; i++) {
      const r = await pool.post('/close', {}, '{}', 2000);
      assert.deepEqual({ status: r.status, body: r.body?.toString() }, { status: 201, body: 'ok' });
    }
    // The chunked answer's connection served the first /close, which closed it: the second is new.
    assert.equal(connections - before, 1);
    pool.destroy();
  });

  it('GIVEN concurrent posts THEN each gets its own connection and its own answer', async () => {
    const pool = new KeepAlivePool({ host: '127.0.0.1', port, maxIdle: 2 });
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => pool.post('/echo', {}, `{"i":${i}}`, 2000)),
    );
    assert.deepEqual(
      answers.map((r) => JSON.parse(r.body!.toString()).echo),
      [0, 1, 2, 3, 4].map((i) => `{"i":${i}}`),
    );
    assert.equal(pool.size, 2, 'idle connections beyond maxIdle are closed');
    pool.destroy();
  });

  it('GIVEN no answer in time, or nobody listening THEN status 0 with the reason, and nothing thrown', async () => {
    const pool = new KeepAlivePool({ host: '127.0.0.1', port, maxIdle: 2 });
    const started = performance.now();
    const late = await pool.post('/silent', {}, '{}', 150);
    assert.deepEqual(late, { status: 0, error: 'timeout' });
    assert.ok(performance.now() - started < 1500);
    assert.equal(pool.size, 0, 'the timed-out connection is dropped');
    pool.destroy();

    const probe = net.createServer();
    const closedPort = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refused = new KeepAlivePool({ host: '127.0.0.1', port: closedPort, maxIdle: 2 });
    assert.deepEqual(await refused.post('/', {}, '{}', 2000), { status: 0, error: 'ECONNREFUSED' });
    refused.destroy();
  });

  it('GIVEN a server that sends byte by byte, with an interim 100, trailers, and then garbage THEN the answer is read and garbage is an error', async () => {
    const answers = [
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n',
      'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy',
      'SMTP ready\r\n\r\n',
    ];
    let n = 0;
    const raw = net.createServer((socket) => {
      socket.on('data', async () => {
        const text = answers[n++] ?? '';
        for (const ch of text) {
          socket.write(ch);
          await new Promise((r) => setImmediate(r));
        }
      });
    });
    const rawPort = await listen(raw);
    const pool = new KeepAlivePool({ host: '127.0.0.1', port: rawPort, maxIdle: 2 });
    const first = await pool.post('/', {}, '{}', 2000);
    assert.deepEqual({ status: first.status, body: first.body?.toString() }, { status: 200, body: 'abcde' });
    const second = await pool.post('/', {}, '{}', 2000);
    assert.deepEqual({ status: second.status, body: second.body?.toString() }, { status: 503, body: 'busy' });
    assert.deepEqual(await pool.post('/', {}, '{}', 2000), { status: 0, error: 'bad-response' });
    pool.destroy();
    raw.close();
  });
});
