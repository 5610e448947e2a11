/**
 * A sparse set of units (host sectors, guest grains) that refuses to take one twice: it catches
 * grain-table entries and markers that overlap each other or the tables, in any order. Pages of
 * bits are made only where something is marked, so a file costs one bit per unit it uses.
 */
const PAGE_BITS = 1 << 15;

export class UnitSet {
  private readonly pages = new Map<number, Uint32Array>();

  /** Marks [start, start + count); returns false (marking nothing further) when one was already taken. */
  claim(start: number, count: number): boolean {
    let unit = start;
    const end = start + count;
    while (unit < end) {
      const pageIndex = Math.floor(unit / PAGE_BITS);
      let page = this.pages.get(pageIndex);
      if (!page) {
        page = new Uint32Array(PAGE_BITS / 32);
        this.pages.set(pageIndex, page);
      }
      const pageEnd = Math.min(end, (pageIndex + 1) * PAGE_BITS);
      for (let bit = unit - pageIndex * PAGE_BITS; unit < pageEnd; unit++, bit++) {
        const word = bit >>> 5;
        const mask = 1 << (bit & 31);
        if (page[word]! & mask) return false;
        page[word] = page[word]! | mask;
      }
    }
    return true;
  }

  has(unit: number): boolean {
    const page = this.pages.get(Math.floor(unit / PAGE_BITS));
    const bit = unit % PAGE_BITS;
    return page !== undefined && (page[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }
}
