// Lint: type-aware promise rules everywhere (a floating promise in an activity or the CLI is an
// unhandled rejection or a step that silently does not happen), and a fence around workflows/:
// the workflow sandbox must stay deterministic, so no Node built-ins, no I/O libraries and no
// product modules that reach them; only types cross the fence. Everything that crosses the Temporal
// boundary (inputs, results, search attribute keys, queries) lives in workflows/boundary.ts.
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'assert',
  'buffer',
  'child_process',
  'crypto',
  'dns',
  'events',
  'fs',
  'http',
  'https',
  'net',
  'os',
  'path',
  'process',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'scripts/**', 'eslint.config.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // node:test's test() returns a promise the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-require-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // lib/ is what everything else builds on: it never imports upward. From workflows/ it takes the
    // boundary alone (types and constants), never the workflow code, activities, the CLI or the worker.
    files: ['lib/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(activities|client|worker|devstack|workflows(?!/boundary$))(/|$)',
              message: 'lib/ never imports upward: only workflows/boundary crosses from workflows/',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: NODE_BUILTINS.flatMap((name) => [name, `node:${name}`]).map((name) => ({
            name,
            message: 'workflow code runs in the deterministic sandbox: no Node built-ins',
          })),
          patterns: [
            {
              group: ['node:*'],
              message: 'workflow code runs in the deterministic sandbox: no Node built-ins',
            },
            {
              group: [
                'pg',
                'pg-*',
                'nodemailer',
                'openpgp',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
              ],
              message: 'no I/O libraries in workflow code: call an activity',
            },
            {
              group: [
                '../lib/*',
                '../lib/**',
                '../client/**',
                '../worker/**',
                '../devstack/**',
                '../activities',
                '../activities/**',
              ],
              allowTypeImports: true,
              message:
                'workflow code imports only workflows/ (the boundary: workflows/boundary.ts) and @temporalio/workflow',
            },
          ],
        },
      ],
    },
  },
);
