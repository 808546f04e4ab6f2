/**
 * scoring: POST /score { features } -> ScoreResult. Reads the versioned weights file once, at start.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { httpError, log, serve } from '../../lib/http.ts';
import type { Features } from '../../lib/types.ts';
import { loadModel, scoreFeatures } from './logic.ts';

const require = createRequire(import.meta.url);
const conf = require('rc')('scoring', {
  modelFile: fileURLToPath(new URL('../../model/weights.v1.json', import.meta.url)),
  maxReasons: 3,
  minContribution: 0.25,
}) as { modelFile: string; maxReasons: unknown; minContribution: unknown };

const model = loadModel(JSON.parse(readFileSync(resolve(conf.modelFile), 'utf8')));
const options = { maxReasons: Number(conf.maxReasons), minContribution: Number(conf.minContribution) };
log('info', 'model loaded', { version: model.version, features: model.names.length });

serve({
  name: 'scoring',
  routes: [
    {
      method: 'POST',
      path: '/score',
      handler: ({ body }) => {
        const features = (body as { features?: unknown } | undefined)?.features;
        if (!features || typeof features !== 'object' || Array.isArray(features)) {
          throw httpError(400, {
            error: 'invalid request',
            field: 'features',
            message: 'expected an object of numbers',
          });
        }
        return scoreFeatures(model, features as Features, options);
      },
    },
  ],
});
