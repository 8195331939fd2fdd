#!/usr/bin/env node
'use strict';
// Runs the compiled tests with Node's built-in runner, one file at a time: the end-to-end files
// each start a real Temporal dev server, and two at once would only compete for the 2 cores.
// Usage: node scripts/test.js [substring…]   (only files whose path contains one of them)
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'dist', 'test');
function find(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'faults' ? [] : find(full);
    return entry.name.endsWith('.test.js') ? [full] : [];
  });
}
const filters = process.argv.slice(2);
const files = find(root)
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${root}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
