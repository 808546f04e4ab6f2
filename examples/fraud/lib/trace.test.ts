import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed } from '@opentelemetry/core';
import { inCarriedCall, peerOf, untraced } from './trace.ts';

describe('trace helpers', () => {
  it("GIVEN untraced WHEN code runs in it THEN the SDK's own check sees tracing suppressed", () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      assert.equal(isTracingSuppressed(context.active()), false);
      assert.equal(
        untraced(() => isTracingSuppressed(context.active())),
        true,
      );
    } finally {
      context.disable();
    }
  });

  it('GIVEN a call without a sampled trace WHEN run as carried THEN it runs as it is', async () => {
    const notSampled = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00' };
    for (const carrier of [undefined, {}, notSampled])
      assert.deepEqual(await inCarriedCall(carrier, '/x', async () => ({ status: 201 })), { status: 201 });
  });

  it("GIVEN a client's base URL THEN its calls' peer is its host and port, the scheme's when none is written", () => {
    assert.deepEqual(peerOf('http://velocity:8080'), { address: 'velocity', port: 8080 });
    assert.deepEqual(peerOf('http://audit'), { address: 'audit', port: 80 });
    assert.deepEqual(peerOf('https://[fd00::1]/'), { address: 'fd00::1', port: 443 });
  });
});
