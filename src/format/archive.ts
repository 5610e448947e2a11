/**
 * `contentType: archive`: a tar stream extracted into a directory. Nothing is ever created
 * outside it: names with `..` or a leading `/` are refused, symlinks and hard links must point
 * inside, and every parent directory is resolved on disk (so a symlink planted by an earlier
 * entry cannot redirect a later one). Device nodes and FIFOs are skipped. Regular files are
 * written sparsely and fsynced. The total size is bounded by the capacity.
 */
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readdir, realpath, rm, symlink, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import tar, { type Extract } from 'tar-stream';
import { CdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import { alignedBlocks } from './blocks.ts';
import type { ProgressMeter } from './progress.ts';
import { checkCapacity, writeFully } from './target-io.ts';
import { isAllZero } from './zero.ts';

const blockSize = 1 << 20;

type Entry = Extract extends AsyncIterable<infer E> ? E : never;

interface ExtractOptions {
  readonly capacity: number;
  readonly meter: ProgressMeter;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

export class TarExtractor {
  readonly #dir: string;
  #root = '';
  #createdDir = false;
  readonly #existing = new Set<string>();
  #bytes = 0;
  #entries = 0;

  constructor(dir: string) {
    this.#dir = path.resolve(dir);
  }

  get bytes(): number {
    return this.#bytes;
  }

  async extract(stream: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<void> {
    await this.#prepare();
    const extract = tar.extract();
    const feeding = feed(stream, extract).catch((err: unknown) => {
      extract.destroy(err as Error);
    });
    try {
      for await (const entry of extract) {
        options.signal?.throwIfAborted();
        await this.#entry(entry, options);
      }
    } catch (err) {
      extract.destroy();
      throw archiveError(err);
    } finally {
      await feeding;
    }
    if (this.#entries === 0) throw new CdiError('CDI_ERR_ARCHIVE_INVALID', ['no entries']);
  }

  /** Removes what this extraction created, so a failed import does not look complete. */
  async abort(): Promise<void> {
    if (this.#root === '') return;
    if (this.#createdDir) {
      await rm(this.#root, { recursive: true, force: true });
      return;
    }
    for (const name of await readdir(this.#root).catch(() => [])) {
      if (!this.#existing.has(name)) await rm(path.join(this.#root, name), { recursive: true, force: true });
    }
  }

  async #prepare(): Promise<void> {
    const made = await mkdir(this.#dir, { recursive: true }).catch((err: unknown) => {
      throw new CdiError('CDI_ERR_TARGET', [this.#dir, (err as Error).message], { cause: err });
    });
    this.#createdDir = made !== undefined;
    this.#root = await realpath(this.#dir);
    for (const name of await readdir(this.#root)) this.#existing.add(name);
  }

  async #entry(entry: Entry, options: ExtractOptions): Promise<void> {
    const { header } = entry;
    this.#entries++;
    const relative = safeName(header.name);
    const type = header.type ?? 'file';
    if (relative === '' || !['file', 'contiguous-file', 'directory', 'symlink', 'link'].includes(type)) {
      if (relative !== '') options.logger.info({ entry: header.name, type }, 'skipping archive entry');
      await skip(entry);
      return;
    }
    const parts = relative.split('/');
    const mode = (header.mode ?? 0o644) & 0o1777;
    if (type === 'directory') {
      await this.#directory(parts, header.name);
    } else {
      const parent = await this.#directory(parts.slice(0, -1), header.name);
      const target = path.join(parent, parts[parts.length - 1]!);
      await removeNonDirectory(target);
      if (type === 'symlink') await this.#symlink(target, header.linkname ?? '', header.name);
      else if (type === 'link') await this.#hardlink(target, header.linkname ?? '', header.name);
      else await this.#file(target, entry, header.size ?? 0, mode, options);
      if (header.mtime && type !== 'symlink') await utimes(target, header.mtime, header.mtime).catch(() => {});
    }
    await skip(entry);
  }

  async #file(target: string, entry: Entry, size: number, mode: number, options: ExtractOptions): Promise<void> {
    checkCapacity(this.#bytes + size, options.capacity);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const handle = await open(target, flags, mode);
    try {
      let offset = 0;
      for await (const block of alignedBlocks(entry as AsyncIterable<Uint8Array>, blockSize)) {
        checkCapacity(this.#bytes + block.byteLength, options.capacity);
        if (!isAllZero(block)) await writeFully(handle, block, offset);
        offset += block.byteLength;
        this.#bytes += block.byteLength;
        options.meter.writtenBytes += block.byteLength;
      }
      await handle.truncate(offset);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async #symlink(target: string, linkname: string, name: string): Promise<void> {
    if (linkname === '' || path.isAbsolute(linkname)) throw traversal(`${name} -> ${linkname}`);
    checkLength(linkname, `symlink target of ${name.slice(0, 64)}`);
    const resolved = path.resolve(path.dirname(target), linkname);
    this.#checkInside(resolved, `${name} -> ${linkname}`);
    await symlink(linkname, target);
  }

  async #hardlink(target: string, linkname: string, name: string): Promise<void> {
    const relative = safeName(linkname);
    if (relative === '') throw traversal(`${name} => ${linkname}`);
    const parts = relative.split('/');
    const source = path.join(await this.#directory(parts.slice(0, -1), `${name} => ${linkname}`), parts[parts.length - 1]!);
    const info = await lstat(source).catch(() => undefined);
    if (info === undefined || info.isDirectory()) throw new CdiError('CDI_ERR_ARCHIVE_INVALID', [`hard link ${name} points at missing ${linkname}`]);
    await link(source, target);
  }

  /**
   * Walks (and creates) a directory path one component at a time from the root, resolving
   * symlinks on disk, so no directory is ever created or entered outside the root. Returns
   * the real path.
   */
  async #directory(parts: readonly string[], name: string): Promise<string> {
    let current = this.#root;
    for (const part of parts) {
      const next = path.join(current, part);
      const info = await lstat(next).catch(() => undefined);
      if (info === undefined) {
        await mkdir(next, { mode: 0o755 });
        current = next;
      } else if (info.isSymbolicLink()) {
        current = await realpath(next).catch(() => {
          throw traversal(name);
        });
        this.#checkInside(current, name);
        if (!(await lstat(current)).isDirectory()) throw new CdiError('CDI_ERR_ARCHIVE_INVALID', [`${name}: ${part} is not a directory`]);
      } else if (info.isDirectory()) {
        current = next;
      } else {
        throw new CdiError('CDI_ERR_ARCHIVE_INVALID', [`${name}: ${part} is not a directory`]);
      }
    }
    return current;
  }

  #checkInside(resolved: string, name: string): void {
    if (resolved !== this.#root && !resolved.startsWith(this.#root + path.sep)) throw traversal(name);
  }
}

/** Linux's NAME_MAX and PATH_MAX: a longer name (a pax header allows any) cannot be created. */
const NameMaxBytes = 255;
const PathMaxBytes = 4095;

/** Refuses a name the filesystem cannot hold, before anything tries to create it. */
function checkLength(name: string, what: string): void {
  if (Buffer.byteLength(name) > PathMaxBytes) throw new CdiError('CDI_ERR_ARCHIVE_INVALID', [`${what} is longer than ${PathMaxBytes} bytes`]);
  const long = name.split('/').find((part) => Buffer.byteLength(part) > NameMaxBytes);
  if (long !== undefined) throw new CdiError('CDI_ERR_ARCHIVE_INVALID', [`${what} has a component longer than ${NameMaxBytes} bytes (${long.slice(0, 32)}...)`]);
}

/** Normalises an entry name; throws on absolute names, `..` components and names too long to create. */
function safeName(name: string): string {
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) throw traversal(name);
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw traversal(name);
  const relative = parts.join('/');
  checkLength(relative, 'entry name');
  return relative;
}

function traversal(name: string): CdiError {
  return new CdiError('CDI_ERR_ARCHIVE_TRAVERSAL', [name]);
}

async function removeNonDirectory(target: string): Promise<void> {
  const info = await lstat(target).catch(() => undefined);
  if (info === undefined) return;
  if (info.isDirectory()) throw new CdiError('CDI_ERR_ARCHIVE_INVALID', [`${target} is a directory in the archive and later a file`]);
  await unlink(target);
}

/** Reads whatever is left of an entry so the extractor moves on to the next one. */
async function skip(entry: Entry): Promise<void> {
  for await (const _chunk of entry);
}

/** Writes a stream into a tar extractor with backpressure, ending it at the end of the stream. */
export async function feed(stream: AsyncIterable<Uint8Array>, extract: Extract): Promise<void> {
  for await (const chunk of stream) {
    if (extract.destroyed) return;
    if (!extract.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          extract.off('drain', done);
          extract.off('close', done);
          resolve();
        };
        extract.on('drain', done);
        extract.on('close', done);
      });
    }
  }
  extract.end(undefined);
}

export function archiveError(err: unknown): unknown {
  if (err instanceof CdiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/unexpected end|truncated|premature/i.test(message)) return new CdiError('CDI_ERR_TRUNCATED', [`tar archive: ${message}`], { cause: err });
  if (/header|checksum|invalid|format/i.test(message)) return new CdiError('CDI_ERR_ARCHIVE_INVALID', [message], { cause: err });
  if ((err as { code?: unknown }).code === 'ENAMETOOLONG') return new CdiError('CDI_ERR_ARCHIVE_INVALID', ['an entry name is too long for the filesystem'], { cause: err });
  return err;
}
