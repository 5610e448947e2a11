/**
 * OVA: a tar whose first entry is the OVF descriptor (DSP0243 requires that order), followed by
 * the files it references. The archive is read as a stream through the project's tar reader:
 * the descriptor is parsed, entries up to the first disk's file are skipped, and that entry's
 * bytes become the image the format dispatch opens. What follows the disk is read at the end, so
 * a checksum still covers the whole file.
 */
import type { Extract } from 'tar-stream';
import { CdiError } from '../api/errors.ts';
import { archiveError, feed } from './archive.ts';
import { firstOvfDisk } from './ovf.ts';

/** OVF descriptors are a few KiB; this bounds what is held in memory to parse one. */
const MAX_OVF_BYTES = 4 * 1024 * 1024;

export interface OvaDisk {
  /** The entry name of the disk file. */
  readonly name: string;
  /** Its size in the archive. */
  readonly size: number;
  readonly body: AsyncIterable<Uint8Array>;
  /** Reads the entries after the disk, so the whole source is consumed. */
  finish(): Promise<void>;
  /** Stops reading the archive. */
  close(): Promise<void>;
}

type Entry = Extract extends AsyncIterable<infer E> ? E : never;

const normalise = (name: string): string => name.replace(/^(\.\/)+/, '');

export async function openOvaDisk(stream: AsyncIterable<Uint8Array>): Promise<OvaDisk> {
  const { default: tar } = await import('tar-stream');
  const extract = tar.extract();
  const feeding = feed(stream, extract).catch((err: unknown) => {
    extract.destroy(err as Error);
  });
  const entries = extract[Symbol.asyncIterator]() as AsyncIterator<Entry>;
  const next = async (): Promise<Entry | undefined> => {
    try {
      const r = await entries.next();
      return r.done ? undefined : r.value;
    } catch (err) {
      throw archiveError(err);
    }
  };
  const close = async (): Promise<void> => {
    extract.destroy();
    await feeding;
  };
  try {
    const descriptor = await next();
    if (!descriptor) throw new CdiError('CDI_ERR_TRUNCATED', ['the OVA ended before its OVF descriptor']);
    const { href } = firstOvfDisk(await readDescriptor(descriptor));
    for (;;) {
      const entry = await next();
      if (!entry) throw new CdiError('CDI_ERR_OVA_INVALID', [`the disk file ${href} named by the OVF descriptor is not in the archive`]);
      const { name, type, size } = entry.header;
      if (normalise(name) !== href) {
        await skip(entry);
        continue;
      }
      if (type !== 'file') throw new CdiError('CDI_ERR_OVA_INVALID', [`the disk file ${href} is a ${type ?? 'special'} entry, not a file`]);
      return {
        name: href,
        size: size ?? 0,
        body: entryBody(entry),
        async finish() {
          for (let rest = await next(); rest; rest = await next()) await skip(rest);
          await feeding;
        },
        close,
      };
    }
  } catch (err) {
    await close();
    throw err;
  }
}

async function readDescriptor(entry: Entry): Promise<string> {
  const size = entry.header.size ?? 0;
  if (size > MAX_OVF_BYTES) throw new CdiError('CDI_ERR_OVA_INVALID', [`the OVF descriptor of ${size} bytes is larger than ${MAX_OVF_BYTES}`]);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of entry) chunks.push(chunk as Buffer);
  } catch (err) {
    throw archiveError(err);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function skip(entry: Entry): Promise<void> {
  try {
    for await (const _chunk of entry);
  } catch (err) {
    throw archiveError(err);
  }
}

/** The entry's bytes; tar errors (a truncated archive) come out coded. */
async function* entryBody(entry: Entry): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of entry) yield chunk as Buffer;
  } catch (err) {
    throw archiveError(err);
  }
}
