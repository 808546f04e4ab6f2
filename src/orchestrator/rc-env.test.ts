import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { renderRcEnv } from './rc-env.ts';

describe('rc environment rendering', () => {
  it('GIVEN a nested config tree THEN keys become <app>_<a>__<b> and values strings', () => {
    assert.deepEqual(
      renderRcEnv('web', { port: 8080, db: { pool: { max: 5 } }, debug: false, tags: ['a', 'b'] }),
      {
        web_port: '8080',
        web_db__pool__max: '5',
        web_debug: 'false',
        web_tags: '["a","b"]',
      },
    );
  });

  it('GIVEN the rendered variables WHEN the real rc package reads them THEN it sees the same tree', () => {
    const require = createRequire(import.meta.url);
    const rc = require('rc') as (app: string, defaults: object, argv: object) => Record<string, unknown>;
    const env = renderRcEnv('rampartrctest', { port: 8080, db: { pool: { max: 5 } } });
    const saved = { ...process.env };
    try {
      Object.assign(process.env, env);
      const conf = rc('rampartrctest', {}, { _: [] });
      assert.equal(conf.port, '8080');
      assert.deepEqual(conf.db, { pool: { max: '5' } });
    } finally {
      for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
    }
  });
});
