#!/usr/bin/env node
'use strict';
// Runs the compiled tests with Node's built-in runner, one file at a time: the end-to-end files
// each start a real Temporal dev server, and two at once would only compete for the 2 cores.
// Usage: node scripts/test.js [--unit] [substring…]
//   --unit       only the unit set (UNIT_TESTS below): no PostgreSQL, no SMTP, well under a minute
//   substring…   only files whose path contains one of them
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'dist', 'test');

// The one place that decides which tests are unit tests: they need no PostgreSQL, no SMTP server
// and no network beyond loopback (the workflow tests in test/unit/ start a local Temporal dev server
// of their own, from the Temporal CLI the project provisions). New service-free tests go in
// test/unit/; the older ones below stay where they are. Paths are relative to dist/test; a trailing
// '/' takes a whole folder.
const UNIT_TESTS = [
  'unit/',
  'config.test.js',
  'duration.test.js',
  'format-csv.test.js',
  'format-golden.test.js',
  'format-perf.test.js',
  'format-render.test.js',
  'format-roundtrip.test.js',
  'format-spec.test.js',
  'input-files.test.js',
  'replay.test.js',
  'security-codec.test.js',
  'window.test.js',
];

function isUnitTest(file) {
  const relative = path.relative(root, file).split(path.sep).join('/');
  return UNIT_TESTS.some((entry) => (entry.endsWith('/') ? relative.startsWith(entry) : relative === entry));
}

function find(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'faults' ? [] : find(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  });
}

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((arg) => arg !== '--unit');
const files = find(root)
  .filter((file) => !unitOnly || isUnitTest(file))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(
    `no ${unitOnly ? 'unit ' : ''}test files under ${root}${filters.length ? ` matching ${filters.join(', ')}` : ''}`,
  );
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
