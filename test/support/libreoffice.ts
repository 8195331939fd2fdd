/**
 * LibreOffice headless, to open the files the way a reseller's spreadsheet does. Installed with
 * apt-get when missing and this process may (root, Debian); otherwise the caller skips with the
 * reason returned here, printed by the test runner.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

let found: { soffice: string } | { skip: string } | undefined;

function onPath(): string | null {
  const which = spawnSync('sh', ['-c', 'command -v soffice || command -v libreoffice'], { encoding: 'utf8' });
  const file = which.stdout.trim();
  return which.status === 0 && file ? file : null;
}

/** The soffice executable, installing LibreOffice Calc first where possible. */
export function libreOffice(): { soffice: string } | { skip: string } {
  if (found !== undefined) return found;
  let soffice = onPath();
  if (soffice === null) {
    if (process.platform !== 'linux' || process.getuid?.() !== 0 || onPathOf('apt-get') === null) {
      return (found = {
        skip: 'LibreOffice (soffice) is not installed and cannot be installed here (needs root and apt-get)',
      });
    }
    console.log('# installing LibreOffice Calc with apt-get (once; it is large)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install = spawnSync(
      'apt-get',
      ['install', '-y', '-qq', '--no-install-recommends', 'libreoffice-calc'],
      { stdio: 'inherit', env },
    );
    soffice = onPath();
    if (install.status !== 0 || soffice === null)
      return (found = { skip: `LibreOffice could not be installed (apt-get exit ${install.status})` });
  }
  return (found = { soffice });
}

function onPathOf(command: string): string | null {
  const which = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

/**
 * Converts `input` with `soffice --headless --convert-to <target>`, in a profile of its own (so it
 * never meets another instance's lock), and returns the converted file's bytes.
 */
export function convertWithLibreOffice(
  soffice: string,
  input: Buffer,
  inputName: string,
  target: string,
  infilter?: string,
): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barcodes-lo-'));
  try {
    const file = path.join(dir, inputName);
    fs.writeFileSync(file, input);
    const args = [`-env:UserInstallation=file://${path.join(dir, 'profile')}`, '--headless', '--norestore'];
    if (infilter) args.push(`--infilter=${infilter}`);
    args.push('--convert-to', target, '--outdir', path.join(dir, 'out'), file);
    const run = spawnSync(soffice, args, { encoding: 'utf8', timeout: 120_000 });
    const outDir = path.join(dir, 'out');
    const produced = fs.existsSync(outDir) ? fs.readdirSync(outDir) : [];
    if (produced.length !== 1)
      throw new Error(`soffice produced nothing (exit ${run.status}): ${run.stderr || run.stdout}`);
    return fs.readFileSync(path.join(outDir, produced[0]!));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The CSV export filter: `;`, `"`, UTF-8, cells as shown (dates in their format, prices with their decimals). */
export const CSV_EXPORT_AS_SHOWN = 'csv:Text - txt - csv (StarCalc):59,34,76,1,,1033,false,true,true';
/** Opening a `;` UTF-8 CSV as a user does who only picks the separator (every other choice default). */
export const CSV_IMPORT_SEMICOLON = 'CSV:59,34,76,1';
