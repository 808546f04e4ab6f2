import { inflateRawSync } from 'node:zlib';

/**
 * Reads the entries of a zip archive with Node's native inflate (the OSV export `all.zip` holds one
 * JSON file per record: ~200,000 entries for npm, more than the 65,535 a classic end record can count).
 * The central directory is walked by its byte size, so an entry count that overflowed (or ZIP64 end
 * records) does not matter; ZIP64 extra fields are read for sizes and offsets.
 */
export function readZipEntries(
  data: Uint8Array,
  accept: (name: string) => boolean,
): { name: string; data: Buffer }[] {
  return readZipIndex(data, accept).map((e) => ({ name: e.name, data: inflateEntry(e) }));
}

/** A zip entry not yet inflated: its bytes stay a view into the archive until `inflateEntry`. */
export interface ZipEntry {
  name: string;
  method: number;
  size: number;
  raw: Buffer;
}

export function inflateEntry(e: ZipEntry): Buffer {
  if (e.method === 0) return e.raw;
  // A chunk the size of the entry (known from the directory) inflates in one step without copies.
  if (e.method === 8) return inflateRawSync(e.raw, { chunkSize: Math.max(64, e.size + 16) });
  throw new Error(`${e.name}: compression method ${e.method} is not supported (only stored and deflate)`);
}

/** The entries of the central directory that `accept` takes, with their compressed bytes. */
export function readZipIndex(data: Uint8Array, accept: (name: string) => boolean): ZipEntry[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const eocd = findEndRecord(buf);
  if (eocd < 0) throw new Error('no end of central directory record (not a zip archive?)');
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || cdSize === 0xffffffff) {
    // ZIP64: the locator sits right before the classic end record and points at the ZIP64 end record.
    const locator = eocd - 20;
    if (locator < 0 || buf.readUInt32LE(locator) !== 0x07064b50) throw new Error('ZIP64 locator missing');
    const z64 = Number(buf.readBigUInt64LE(locator + 8));
    if (buf.readUInt32LE(z64) !== 0x06064b50) throw new Error('ZIP64 end record missing');
    cdSize = Number(buf.readBigUInt64LE(z64 + 40));
    cdOffset = Number(buf.readBigUInt64LE(z64 + 48));
  }
  const out: ZipEntry[] = [];
  let p = cdOffset;
  const end = cdOffset + cdSize;
  while (p < end) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`bad central directory entry at byte ${p}`);
    const method = buf.readUInt16LE(p + 10);
    let compressed = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    if (size === 0xffffffff || compressed === 0xffffffff || local === 0xffffffff) {
      // ZIP64 extended information: only the fields that overflowed are present, in this order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = buf.readUInt16LE(e);
        const len = buf.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let f = e + 4;
          if (size === 0xffffffff) {
            size = Number(buf.readBigUInt64LE(f));
            f += 8;
          }
          if (compressed === 0xffffffff) {
            compressed = Number(buf.readBigUInt64LE(f));
            f += 8;
          }
          if (local === 0xffffffff) local = Number(buf.readBigUInt64LE(f));
          break;
        }
        e += 4 + len;
      }
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (!accept(name)) continue;
    if (buf.readUInt32LE(local) !== 0x04034b50) throw new Error(`bad local header for ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    out.push({ name, method, size, raw: buf.subarray(start, start + compressed) });
  }
  return out;
}

function findEndRecord(buf: Buffer): number {
  // The end record is 22 bytes plus a comment of at most 65,535 bytes.
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65_535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) return i;
  }
  return -1;
}
