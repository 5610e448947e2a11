/**
 * Holds the one-pass streamOptimized reader to the grain tables, so a pipe converts a file to
 * the same bytes the random-access reader (and qemu-img, which reads the tables) would, or
 * refuses it. The reader takes each grain's guest offset from its marker; the tables must agree:
 * - qemu-img's layout puts the directory and tables before the grains: they are loaded as they
 *   pass (up to MAX_CHECKED_GRAINS entries) and every marker is checked against them, and at the
 *   end every grain they map must have been seen;
 * - ESXi's layout writes each table after its grains: the grains since the last table are
 *   checked against it when it arrives.
 */
import { invalid, SECTOR, type SparseHeader } from './header.ts';

/** Table entries kept for checking: 16 MiB, every grain of a 256 GiB disk with 64 KiB grains. */
const MAX_CHECKED_GRAINS = 4 * 1024 * 1024;
const UNKNOWN = 0xffffffff;
const ZEROED = 1;

export class MarkerCheck {
  private readonly h: SparseHeader;
  /** qemu-img layout: the table entry of every grain (UNKNOWN where no table was read). */
  private tables: Uint32Array | undefined;
  /** ESXi layout: grains since the last grain table, while they can belong to one table. */
  private pendingGrain: number[] = [];
  private pendingSector: number[] = [];
  private grouped = true;

  constructor(h: SparseHeader) {
    this.h = h;
  }

  /** True when the directory lies in the header area, small enough to check against. */
  wantsTables(pos: number): boolean {
    const h = this.h;
    return h.gdOffset >= pos && h.gdOffset + h.gdEntries * 4 <= h.overhead && h.gdEntries * h.gtEntries <= MAX_CHECKED_GRAINS;
  }

  /** Host offsets of the tables the directory names, for the reader to load in host order. */
  directory(bytes: Uint8Array): { index: number; host: number }[] {
    this.tables = new Uint32Array(this.h.gdEntries * this.h.gtEntries).fill(UNKNOWN);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: { index: number; host: number }[] = [];
    for (let i = 0; i < this.h.gdEntries; i++) {
      const host = view.getUint32(i * 4, true) * SECTOR;
      if (host === 0) this.tables.fill(0, i * this.h.gtEntries, (i + 1) * this.h.gtEntries);
      else out.push({ index: i, host });
    }
    return out.sort((a, b) => a.host - b.host);
  }

  table(index: number, bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let e = 0; e < this.h.gtEntries; e++) this.tables![index * this.h.gtEntries + e] = view.getUint32(e * 4, true);
  }

  /** A grain marker at `host` for grain number `grain` passed. */
  grain(grain: number, host: number): void {
    const sector = host / SECTOR;
    if (this.tables) {
      const entry = this.tables[grain]!;
      if (entry !== UNKNOWN && entry !== sector) throw this.disagree(grain, host, entry);
      return;
    }
    if (!this.grouped) return;
    if (this.pendingGrain.length >= this.h.gtEntries || (this.pendingGrain.length > 0 && this.tableOf(this.pendingGrain[0]!) !== this.tableOf(grain))) {
      // not one table's grains: this stream does not follow ESXi's layout, whose tables it could check
      this.grouped = false;
      this.pendingGrain = [];
      this.pendingSector = [];
      return;
    }
    this.pendingGrain.push(grain);
    this.pendingSector.push(sector);
  }

  /** A grain table marker's table arrived: it must map the grains since the previous one to where they were. */
  gtMarker(bytes: Uint8Array): void {
    if (this.tables || !this.grouped || this.pendingGrain.length === 0 || bytes.byteLength < this.h.gtEntries * 4) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const first = this.tableOf(this.pendingGrain[0]!) * this.h.gtEntries;
    const bySector = new Map<number, number>();
    for (let i = 0; i < this.pendingGrain.length; i++) {
      const grain = this.pendingGrain[i]!;
      const entry = view.getUint32((grain - first) * 4, true);
      if (entry !== this.pendingSector[i]) throw this.disagree(grain, this.pendingSector[i]! * SECTOR, entry);
      bySector.set(entry, grain);
    }
    for (let e = 0; e < this.h.gtEntries; e++) {
      const entry = view.getUint32(e * 4, true);
      const grain = bySector.get(entry);
      if (grain !== undefined && grain !== first + e) throw this.disagree(first + e, entry * SECTOR, entry);
    }
    this.pendingGrain = [];
    this.pendingSector = [];
  }

  /** At the end of the stream: every grain the loaded tables map must have been seen. */
  finish(seen: (grain: number) => boolean): void {
    if (!this.tables) return;
    const grains = Math.ceil(this.h.virtualSize / this.h.grainSize);
    for (let g = 0; g < grains; g++) {
      const entry = this.tables[g]!;
      if (entry === 0 || entry === UNKNOWN || (entry === ZEROED && this.h.zeroGrains)) continue;
      if (!seen(g)) throw invalid(`the grain table maps guest offset ${g * this.h.grainSize} to sector ${entry}, where no grain marker was found`);
    }
  }

  private tableOf(grain: number): number {
    return Math.floor(grain / this.h.gtEntries);
  }

  private disagree(grain: number, host: number, entry: number): Error {
    return invalid(`the grain marker at ${host} is for guest offset ${grain * this.h.grainSize}, but the grain table says sector ${entry}`);
  }
}
