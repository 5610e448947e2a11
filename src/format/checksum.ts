/**
 * CDI's `algo:hex` checksum of the source bytes as they arrive, before any decompression
 * (pkg/importer, PR #4010).
 */
import { createHash, type Hash } from 'node:crypto';
import { CdiError } from '../api/errors.ts';

const hexLength = { md5: 32, sha1: 40, sha256: 64, sha512: 128 } as const;
type ChecksumAlgorithm = keyof typeof hexLength;

export interface Checksum {
  readonly algorithm: ChecksumAlgorithm;
  readonly hex: string;
}

export function parseChecksum(text: string): Checksum {
  const match = /^([a-z0-9]+):([0-9a-fA-F]+)$/.exec(text.trim());
  const algorithm = match?.[1] as ChecksumAlgorithm | undefined;
  if (!match || algorithm === undefined || !(algorithm in hexLength) || match[2]!.length !== hexLength[algorithm]) {
    throw new CdiError('CDI_ERR_CHECKSUM_FORMAT', [text]);
  }
  return { algorithm, hex: match[2]!.toLowerCase() };
}

function formatChecksum(sum: Checksum): string {
  return `${sum.algorithm}:${sum.hex}`;
}

/** Hashes every chunk that passes through; `verify` compares once the source has ended. */
export class ChecksumTee {
  readonly expected: Checksum;
  readonly #hash: Hash;
  #actual: string | undefined;

  constructor(expected: Checksum) {
    this.expected = expected;
    this.#hash = createHash(expected.algorithm);
  }

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
  }

  /** Hashes a whole stream (random-access inputs are hashed by a sequential read beside the conversion). */
  async consume(source: AsyncIterable<Uint8Array>): Promise<void> {
    for await (const chunk of source) this.#hash.update(chunk);
  }

  /** Throws CDI_ERR_CHECKSUM_MISMATCH unless the bytes seen match; returns `algo:hex` of them. */
  verify(): string {
    this.#actual ??= this.#hash.digest('hex');
    if (this.#actual !== this.expected.hex) {
      throw new CdiError('CDI_ERR_CHECKSUM_MISMATCH', [formatChecksum(this.expected), `${this.expected.algorithm}:${this.#actual}`]);
    }
    return formatChecksum(this.expected);
  }
}
