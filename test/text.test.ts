import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interfaceTitle } from '../lib/interfaces/title';
import { bodyFor, describeAttachment, subjectFor } from '../lib/mail/message';
import { formatTable } from '../client/output';

// Text people read: subjects, email bodies, tables. Pure functions, no services.

const window = {
  windowStart: new Date('2026-12-04T10:00:00Z'),
  windowEnd: new Date('2026-12-04T10:15:00Z'),
  ticketCount: 3,
  part: 1,
  partCount: 1,
};

test('a name that already says Barcodes is not repeated in the subject; other names are introduced', () => {
  assert.equal(interfaceTitle('Barcodes for Demo Reseller'), 'Barcodes for Demo Reseller');
  assert.equal(interfaceTitle('barcodes Acme'), 'barcodes Acme');
  assert.equal(interfaceTitle('Acme'), 'Barcodes for Acme');
  assert.equal(interfaceTitle('BarcodesForAll'), 'Barcodes for BarcodesForAll', 'a word, not a prefix');
  const subject = subjectFor({ interfaceName: 'Barcodes for Demo Reseller', kind: 'scheduled', ...window });
  assert.equal(
    subject,
    'Barcodes for Demo Reseller: 2026-12-04 10:00:00 UTC to 2026-12-04 10:15:00 UTC, 3 tickets',
  );
  assert.doesNotMatch(subject, /Barcodes Barcodes/);
});

test('the email body names the attachment type and encoding, through every layer', () => {
  assert.equal(describeAttachment('a.csv', 'text/csv; charset=utf-8'), 'CSV file, UTF-8');
  assert.equal(describeAttachment('a.csv', 'text/csv; charset=iso-8859-1'), 'CSV file, ISO-8859-1');
  assert.equal(describeAttachment('a.csv.gz', 'application/gzip'), 'gzip-compressed CSV file');
  assert.equal(describeAttachment('a.zip', 'application/zip'), 'ZIP archive holding the CSV file');
  assert.equal(
    describeAttachment('a.csv.gz.pgp', 'application/octet-stream'),
    'OpenPGP-encrypted gzip-compressed CSV file',
  );
  assert.equal(
    describeAttachment('a.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'),
    'Excel workbook (xlsx)',
  );
  assert.equal(
    describeAttachment('a.xlsx.pgp', 'application/octet-stream'),
    'OpenPGP-encrypted Excel workbook (xlsx)',
  );
  const body = bodyFor({
    interfaceName: 'Acme',
    kind: 'scheduled',
    ...window,
    fileName: 'a.csv',
    contentType: 'text/csv; charset=utf-8',
    sha256: 'ab',
    rowCount: 3,
  });
  assert.match(body, /^Attachment: CSV file, UTF-8$/m);
});

test('tables align their columns under a header', () => {
  const table = formatTable(
    ['ID', 'NAME'],
    [
      ['1', 'Acme'],
      ['1234', 'Barcodes for B'],
    ],
  );
  assert.equal(table, ['ID    NAME', '1     Acme', '1234  Barcodes for B'].join('\n'));
});
