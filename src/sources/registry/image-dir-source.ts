import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { CdiError } from '../../api/errors.ts';
import { ByteMeter } from '../meter.ts';
import type { ImportSource } from '../source.ts';

/**
 * pullMethod node: the node already pulled the registry image and mounted its files (a Kubernetes
 * image volume); the importer reads the containerDisk's one file under disk/, with the same rule
 * as upstream's containerimage server (exactly one entry, not a directory).
 */
export async function openImageDirSource(imageDir: string, description: string): Promise<ImportSource> {
  const diskDir = path.join(imageDir, 'disk');
  const entries = await readdir(diskDir, { withFileTypes: true }).catch((err: unknown) => {
    throw new CdiError('CDI_ERR_REGISTRY_NO_DISK', [], { cause: err });
  });
  const files = entries.filter((e) => e.isFile());
  if (files.length > 1) throw new CdiError('CDI_ERR_REGISTRY_DISKS', [files.map((f) => f.name).sort().join(', ')]);
  const file = files[0];
  if (!file || entries.length !== 1) throw new CdiError('CDI_ERR_REGISTRY_NO_DISK');
  const diskPath = path.join(diskDir, file.name);
  const meter = new ByteMeter((await stat(diskPath)).size);
  const stream = createReadStream(diskPath, { highWaterMark: 1 << 20 });
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      meter.add(chunk.byteLength);
      yield chunk;
    }
  }
  return {
    input: { kind: 'stream', stream: counted() },
    meter,
    description: `${description} (pulled by the node)`,
    complete: async () => undefined,
    close: async () => void stream.destroy(),
  };
}
