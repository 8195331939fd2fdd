#!/usr/bin/env node
'use strict';
// The package's executable. The TypeScript is compiled by `npm ci` (the `prepare` script), so
// `npx barcodes …` works right after install; say so plainly if someone skipped that step.
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'client', 'cli.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(
    'barcodes: not built yet: run `npm ci` (or `npm run build`) in ' + path.dirname(__dirname) + '\n',
  );
  process.exit(2);
}
require(entry).runCli();
