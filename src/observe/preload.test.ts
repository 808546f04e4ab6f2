import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { preloadEnvironment, preloadPath } from './preload.ts';

describe('preload environment', () => {
  it('GIVEN a replica WHEN its tracing environment is built THEN NODE_OPTIONS requires the preload by absolute path', () => {
    const env = preloadEnvironment({
      endpoint: 'http://198.18.0.1:7420',
      service: 'gateway',
      environment: 'prod',
      namespace: 'default',
      replica: 1,
      headers: { authorization: 'Bearer a b' },
      nodeOptions: '--max-old-space-size=256',
      ignorePaths: ['/healthz', '/ready'],
    });
    assert.ok(existsSync(preloadPath()));
    assert.deepEqual(env, {
      NODE_OPTIONS: `--require ${preloadPath()} --max-old-space-size=256`,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://198.18.0.1:7420',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_SERVICE_NAME: 'gateway',
      RAMPART_SERVICE: 'gateway',
      RAMPART_ENVIRONMENT: 'prod',
      RAMPART_NAMESPACE: 'default',
      RAMPART_REPLICA: '1',
      RAMPART_TRACE_IGNORE_PATHS: '/healthz,/ready',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20a%20b',
    });
  });
});
