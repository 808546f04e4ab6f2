// Lint rules that hold the architecture (STYLE.md): dependencies point one way, capabilities are
// used through their index.ts, promises are never left floating.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import { builtinModules } from 'node:module';

// `../<capability>/<file>.ts` other than its index.ts (contract suites are shared test code).
const DEEP_IMPORT =
  '^(\\.\\./)+(stack|network|runtime|store|databases|orchestrator|logs|config)/(?!index\\.ts$)(?![a-z-]+\\.contract\\.ts$)[^/]+$';

const capabilities = [
  'stack',
  'network',
  'runtime',
  'store',
  'databases',
  'orchestrator',
  'logs',
  'platform',
  'config',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/results/**', 'web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': ['error', { maxDepth: 4 }],
      // A capability is used through its index.ts (its public surface), never by reaching into it.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: DEEP_IMPORT,
              message: 'import another capability through its index.ts',
            },
          ],
        },
      ],
    },
  },
  {
    // Capabilities never import the CLI or the server.
    files: capabilities.map((c) => `src/${c}/**/*.ts`),
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/**', '**/server/**'],
              message: 'capabilities must not depend on cli/ or server/',
            },
            { regex: DEEP_IMPORT, message: 'import another capability through its index.ts' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    // The dashboard runs in browsers: no Node built-ins (web/tsconfig.json has no Node types either).
    files: ['web/src/**/*.ts'],
    languageOptions: { globals: globals.browser },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules.map((name) => ({ name, message: 'browser code cannot use Node built-ins' })),
          patterns: [{ regex: '^node:', message: 'browser code cannot use Node built-ins' }],
        },
      ],
    },
  },
);
