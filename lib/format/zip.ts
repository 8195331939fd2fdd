/**
 * The few bytes of a zip archive with one deflated entry (APPNOTE.TXT 6.3): a local header, the
 * data, a central directory and its end record. Sizes and CRC are known when the header is
 * written (the entry is compressed in memory first, see output.ts), so no data descriptor and no
 * ZIP64: an entry is at most LIMITS.maxFileSize before compression, far below 4 GiB.
 */

import { FormatError } from '../errors';

interface ZipEntry {
  /** ASCII name (file names are validated to be), so no UTF-8 flag is needed. */
  readonly name: string;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** Shown as the entry's modification time; the window end, so the same window gives the same bytes. */
  readonly modified: Date;
}

const DEFLATE = 8;
const VERSION = 20; // 2.0: deflate

/** MS-DOS time and date (2-second steps, from 1980), from the UTC fields. */
function dosDateTime(date: Date): { time: number; date: number } {
  if (date.getUTCFullYear() < 1980) return { time: 0, date: (1 << 5) | 1 };
  const year = Math.min(date.getUTCFullYear(), 2107);
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

function checkSizes(entry: ZipEntry): void {
  if (entry.compressedSize > 0xffff_ffff || entry.uncompressedSize > 0xffff_ffff) {
    throw new FormatError(`format: the zip entry ${entry.name} is larger than 4 GiB`);
  }
}

/**
 * The fields local header and central directory record share, in the same order (version needed
 * to extract through extra field length): 26 bytes written at `offset`.
 */
function writeEntryFields(buffer: Buffer, offset: number, entry: ZipEntry, nameLength: number): void {
  const dos = dosDateTime(entry.modified);
  buffer.writeUInt16LE(VERSION, offset); // needed to extract
  buffer.writeUInt16LE(0, offset + 2); // flags
  buffer.writeUInt16LE(DEFLATE, offset + 4);
  buffer.writeUInt16LE(dos.time, offset + 6);
  buffer.writeUInt16LE(dos.date, offset + 8);
  buffer.writeUInt32LE(entry.crc32 >>> 0, offset + 10);
  buffer.writeUInt32LE(entry.compressedSize, offset + 14);
  buffer.writeUInt32LE(entry.uncompressedSize, offset + 18);
  buffer.writeUInt16LE(nameLength, offset + 22);
  buffer.writeUInt16LE(0, offset + 24); // extra field length
}

export function localFileHeader(entry: ZipEntry): Buffer {
  checkSizes(entry);
  const name = Buffer.from(entry.name, 'latin1');
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  writeEntryFields(header, 4, entry, name.length);
  return Buffer.concat([header, name]);
}

/** Central directory of the single entry (whose local header is at offset 0) and the end record. */
export function centralDirectory(entry: ZipEntry): Buffer {
  checkSizes(entry);
  const name = Buffer.from(entry.name, 'latin1');
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(VERSION, 4); // made by: MS-DOS, 2.0
  writeEntryFields(central, 6, entry, name.length);
  central.writeUInt16LE(0, 32); // comment length
  central.writeUInt16LE(0, 34); // disk number
  central.writeUInt16LE(1, 36); // internal attributes: text
  central.writeUInt32LE(0, 38); // external attributes
  central.writeUInt32LE(0, 42); // local header offset
  const directorySize = central.length + name.length;
  const directoryOffset = 30 + name.length + entry.compressedSize;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4); // this disk
  end.writeUInt16LE(0, 6); // disk of the directory
  end.writeUInt16LE(1, 8); // entries on this disk
  end.writeUInt16LE(1, 10); // entries
  end.writeUInt32LE(directorySize, 12);
  end.writeUInt32LE(directoryOffset, 16);
  end.writeUInt16LE(0, 20); // comment length
  return Buffer.concat([central, name, end]);
}
