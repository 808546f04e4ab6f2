// Tracing injected without code changes, on a two-service stack small enough to start in seconds:
// an ES module service (`front.mjs`) calls a CommonJS one (`back.cjs`), neither knowing anything of
// OpenTelemetry. Their spans reach the OTLP receiver on the bridge gateway, the map shows the call,
// a JSON log line is stored parsed with the injected secret redacted, and in protect mode with no
// egress allowed the replicas still reach the receiver. The real OTel JS SDK exports from inside a
// replica's namespace too, and is attributed by its address, not by what it claims.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ServiceMap, SpanRecord, StoredLog, TraceSummary } from '../../src/observe/index.ts';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';
import { freePort } from '../../src/testing/postgres.ts';
import { inNetns } from '../../src/testing/probe.ts';

const FRONT = `import http from 'node:http';
http.createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const answer = await fetch('http://back:8080/work').then((r) => r.text());
  res.end('front got ' + answer);
}).listen(8080);
`;

const BACK = `const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  console.log(JSON.stringify({ level: 50, msg: 'upstream timeout, token ' + process.env.back_token, time: Date.now() }));
  res.end('done');
}).listen(8080);
`;

const stackText = (hostPort: number) => `version: 1
name: inject
services:
  front:
    command: [node, front.mjs]
    ports: [{ name: http, port: 8080 }]
    health: { http: { path: /healthz, port: http }, interval: 1s }
    publish: [{ port: http, hostPort: ${hostPort} }]
    dependsOn: [back]
    # Every call traced (the default keeps 1 new trace a second), so the map's count is exact.
    env: { RAMPART_TRACES_PER_SECOND: '100' }
  back:
    command: [node, back.cjs]
    ports: [{ name: http, port: 8080 }]
    health: { http: { path: /healthz, port: http }, interval: 1s }
    secrets:
      token: { generate: 24 }
`;

describe('injected tracing on an ESM and a CommonJS service', { timeout: 120_000 }, () => {
  let cp: TestControlPlane;
  const env = testEnvironmentName('oi');

  const api = async <T>(path: string, query: Record<string, string> = {}): Promise<T> => {
    const url = new URL(path, cp.daemon.url);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const res = await fetch(url, { headers: { authorization: `Bearer ${cp.daemon.token}` } });
    const text = await res.text();
    assert.equal(res.status, 200, `${path}: ${text}`);
    return (
      path.endsWith('/logs')
        ? text
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as unknown)
        : JSON.parse(text)
    ) as T;
  };

  const eventually = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  let frontUrl = '';
  const callFront = async () => {
    const res = await fetch(`${frontUrl}/`);
    assert.equal(await res.text(), 'front got done');
  };

  before(async () => {
    cp = await startControlPlaneForTest({ readyTimeoutMs: 60_000 });
    const hostPort = await freePort();
    frontUrl = `http://127.0.0.1:${hostPort}`;
    const file = await cp.writeStack(stackText(hostPort));
    await writeFile(join(dirname(file), 'front.mjs'), FRONT);
    await writeFile(join(dirname(file), 'back.cjs'), BACK);
    await cp.daemon.controlPlane.up({ file, environment: env, clientEnv: {} }, () => undefined);
    for (let i = 0; i < 5; i++) await callFront();
  });

  after(async () => {
    try {
      await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
    }
  });

  it('GIVEN calls through front WHEN traces are read THEN one trace spans the ESM and the CommonJS service', async () => {
    const spans = await eventually('a trace of front and back', async () => {
      const { traces } = await api<{ traces: TraceSummary[] }>('/v1/observe/traces', {
        environment: env,
        service: 'back',
      });
      const t = traces.find((x) => x.services.includes('front') && x.services.includes('back'));
      return t ? (await api<{ spans: SpanRecord[] }>(`/v1/observe/traces/${t.traceId}`)).spans : undefined;
    });
    assert.ok(spans.some((s) => s.service === 'front' && s.kind === 'server'));
    assert.ok(spans.some((s) => s.service === 'front' && s.kind === 'client'));
    assert.ok(spans.some((s) => s.service === 'back' && s.kind === 'server'));
    // The health checks Rampart probes every second are not traced.
    assert.ok(spans.every((s) => !JSON.stringify(s.attributes).includes('/healthz')));
  });

  it('GIVEN the calls WHEN the map is read THEN front -> back is an edge seen in traces', async () => {
    const map = await eventually('the front -> back edge', async () => {
      const m = await api<ServiceMap>('/v1/observe/map', { environment: env, window: '5m' });
      return m.edges.some((e) => e.from === 'front' && e.to === 'back') ? m : undefined;
    });
    const edge = map.edges.find((e) => e.from === 'front' && e.to === 'back')!;
    assert.ok(edge.sources.includes('trace'));
    assert.ok(edge.requests >= 5);
  });

  it('GIVEN back logs JSON with its secret WHEN searched THEN the line is parsed and the secret redacted', async () => {
    const lines = await eventually('back error lines', async () => {
      const found = await api<StoredLog[]>('/v1/observe/logs', {
        environment: env,
        query: 'service:back level:error "upstream timeout"',
        since: '15m',
      });
      return found.length > 0 ? found : undefined;
    });
    assert.equal(lines[0]!.level, 'error');
    assert.match(lines[0]!.message, /^upstream timeout, token \*\*\*$/);
  });

  it('GIVEN the real OTel JS SDK in back’s namespace WHEN it exports claiming another name THEN the span is back’s', async () => {
    const replica = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.service === 'back')!;
    const receiver = cp.daemon.observability.receivers(env)[0]!;
    const script = `
      const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
      const { resourceFromAttributes } = require('@opentelemetry/resources');
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'impostor' }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: 'http://${receiver}/v1/traces' }))],
      });
      provider.getTracer('probe').startSpan('sdk-probe').end();
      provider.forceFlush().then(() => provider.shutdown()).then(() => console.log('exported'));
    `;
    assert.match(await inNetns(replica.netns, script), /exported/);
    const traces = await eventually('the probe span', async () => {
      const found = await api<{ traces: TraceSummary[] }>('/v1/observe/traces', { operation: 'sdk-probe' });
      return found.traces.length > 0 ? found.traces : undefined;
    });
    assert.equal(traces[0]!.rootService, 'back');
  });

  it('GIVEN protect mode with no policy allowing egress WHEN front is called THEN its spans still arrive', async () => {
    await cp.daemon.controlPlane.withFirewall(env, (f) =>
      f.applyPolicyText(
        `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: front-to-back, namespace: ${env} }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: front } }
  policyTypes: [Egress]
  egress:
    - to: [{ podSelector: { matchLabels: { app.kubernetes.io/name: back } } }]
      ports: [{ protocol: TCP, port: 8080 }]
`,
        'test.yaml',
      ),
    );
    await cp.daemon.controlPlane.withFirewall(env, (f) => f.setMode('protect', []));
    const since = Date.now();
    await callFront();
    await eventually('a front span after protect', async () => {
      const { traces } = await api<{ traces: TraceSummary[] }>('/v1/observe/traces', {
        environment: env,
        service: 'front',
        since: String(since),
      });
      return traces.length > 0 ? traces : undefined;
    });
  });
});
