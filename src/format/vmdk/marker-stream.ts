/**
 * One-pass streamOptimized reader: every grain carries its guest sector in its marker, so grains
 * are inflated as they pass and nothing is spilled, whatever the layout; the grain tables, before
 * the grains (qemu-img) or after them (ESXi), are only checked against the markers.
 */
import { CdiError } from '../../api/errors.ts';
import { BufferPool, type Lease } from '../buffer-pool.ts';
import type { ImageReader } from '../contracts.ts';
import { holdPerExtent, type Extent } from '../extent.ts';
import { abortError } from '../abort.ts';
import type { ByteSource } from '../byte-source.ts';
import { BATCH_INPUT, clustersPerBatch, runInflateBatch } from '../qcow2/inflate-pool.ts';
import {
  checkFooter, grainGuest, invalid, MARKER_EOS, MARKER_FOOTER, MARKER_GD, MARKER_GT, parseMarker, parseSparseHeader, SECTOR,
  sectorsOf, type Marker, type SparseHeader,
} from './header.ts';
import { MarkerCheck } from './marker-check.ts';
import { exactly, skipTo } from './stream-io.ts';
import { gtBytes } from './tables.ts';
import { UnitSet } from './unit-set.ts';

const BATCHES_IN_FLIGHT = 3;

/** Reads grain markers and the metadata between them. */
export class MarkerReader implements ImageReader {
  readonly format = 'vmdk';
  readonly virtualSize: number;
  private readonly h: SparseHeader;
  private readonly src: ByteSource;
  private readonly signal: AbortSignal | undefined;
  private readonly grainsSeen = new UnitSet();
  private readonly check: MarkerCheck;
  private readonly inputs = new BufferPool(BATCH_INPUT, BATCHES_IN_FLIGHT + 1);
  private readonly inflight: Promise<Extent[]>[] = [];
  private readonly batchGrains: number;
  private batch: { input: Uint8Array; lease: Lease | undefined; used: number; starts: number[]; lengths: number[]; guest: number[] } | undefined;

  constructor(h: SparseHeader, src: ByteSource, signal: AbortSignal | undefined) {
    this.h = h;
    this.virtualSize = h.virtualSize;
    this.src = src;
    this.signal = signal;
    this.batchGrains = clustersPerBatch(h.grainSize);
    this.check = new MarkerCheck(h);
  }

  spillBytes(): number {
    return 0;
  }

  async *extents(): AsyncIterable<Extent> {
    try {
      await this.loadTables();
      if (!(await skipTo(this.src, this.h.overhead))) throw new CdiError('CDI_ERR_TRUNCATED', ['the stream ended before the vmdk grains']);
      for (;;) {
        const at = this.src.pos;
        const marker = parseMarker(await exactly(this.src, 12, 'marker'));
        if (marker.size > 0) await this.grain(marker, at);
        else {
          const type = Buffer.from(await exactly(this.src, 4, 'marker')).readUInt32LE(0);
          if (type === MARKER_EOS) break;
          await this.metadata(type, marker.value, at);
        }
        while (this.inflight.length >= BATCHES_IN_FLIGHT) yield* await this.inflight.shift()!;
      }
      this.check.finish((grain) => this.grainsSeen.has(grain));
      this.flush();
      while (this.inflight.length > 0) yield* await this.inflight.shift()!;
      await this.src.drain();
    } catch (err) {
      if (this.signal?.aborted) throw abortError(this.signal);
      throw err;
    } finally {
      await this.src.close();
    }
  }

  /** Reads the grain directory and tables when they pass before the grains (qemu-img's layout), to check the markers against. */
  private async loadTables(): Promise<void> {
    if (!this.check.wantsTables(this.src.pos)) return;
    if (!(await skipTo(this.src, this.h.gdOffset))) return;
    const tables = this.check.directory(await exactly(this.src, this.h.gdEntries * 4, 'grain directory'));
    const length = gtBytes(this.h);
    for (const { index, host } of tables) {
      if (host < this.src.pos || host + length > this.h.overhead) continue;
      await skipTo(this.src, host);
      this.check.table(index, await exactly(this.src, length, 'grain table'));
    }
  }

  private async grain(marker: Marker, at: number): Promise<void> {
    const { size } = marker;
    const guest = grainGuest(this.h, marker);
    if (!this.grainsSeen.claim(guest / this.h.grainSize, 1)) throw invalid(`two grains hold guest offset ${guest}`);
    this.check.grain(guest / this.h.grainSize, at);
    let b = this.batch;
    if (b && (b.used + size > b.input.byteLength || b.starts.length >= this.batchGrains)) {
      this.flush();
      b = undefined;
    }
    if (!b) {
      const { bytes, lease } = this.inputs.take(Math.max(BATCH_INPUT, size));
      b = this.batch = { input: bytes, lease, used: 0, starts: [], lengths: [], guest: [] };
    }
    for (let got = 0; got < size;) {
      const piece = await this.src.take(size - got);
      if (!piece) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk grain at offset ${at}`]);
      b.input.set(piece, b.used + got);
      got += piece.byteLength;
    }
    b.starts.push(b.used);
    b.lengths.push(size);
    b.guest.push(guest);
    b.used += size;
    if (!(await skipTo(this.src, at + sectorsOf(12 + size) * SECTOR))) {
      throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk grain at offset ${at}`]);
    }
  }

  private flush(): void {
    const b = this.batch;
    if (!b) return;
    this.batch = undefined;
    const grain = this.h.grainSize;
    const outLengths = b.guest.map((g) => Math.min(grain, this.virtualSize - g));
    const p = runInflateBatch({ codec: 'deflate', clusterSize: grain, input: b.input.subarray(0, b.used), starts: b.starts, lengths: b.lengths, outLengths })
      .finally(() => b.lease?.release())
      .then((result) => {
        if (!result.ok) throw new CdiError('CDI_ERR_VMDK_BAD_GRAIN', [b.guest[result.index]!, result.message]);
        const { lease } = result;
        const out = b.guest.map((g, i): Extent => ({
          kind: 'data', offset: g, data: result.output.subarray(i * grain, i * grain + outLengths[i]!), ...(lease ? { lease } : {}),
        }));
        holdPerExtent(out, lease);
        return out;
      });
    p.catch(() => undefined);
    this.inflight.push(p);
  }

  /** Grain tables check the markers (marker-check.ts); a footer must agree with the header. */
  private async metadata(type: number, sectors: number, at: number): Promise<void> {
    if (type !== MARKER_GT && type !== MARKER_GD && type !== MARKER_FOOTER) throw invalid(`unknown marker type ${type} at offset ${at}`);
    const end = at + SECTOR + sectors * SECTOR;
    if (!Number.isSafeInteger(end)) throw invalid(`metadata marker at offset ${at} claims ${sectors} sectors`);
    if (!(await skipTo(this.src, at + SECTOR))) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk marker at offset ${at}`]);
    if (type === MARKER_FOOTER) {
      if (sectors !== 1) throw invalid(`footer marker at offset ${at} claims ${sectors} sectors`);
      checkFooter(this.h, parseSparseHeader(await exactly(this.src, SECTOR, 'footer')));
      return;
    }
    if (type === MARKER_GT && sectors === sectorsOf(gtBytes(this.h))) {
      this.check.gtMarker(await exactly(this.src, sectors * SECTOR, 'grain table'));
      return;
    }
    if (!(await skipTo(this.src, end))) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk metadata at offset ${at}`]);
  }
}
