/**
 * What the one-pass reader waits for, ordered by host offset: each decoded table becomes one
 * queue sorted by host, and a heap merges the queues, so memory stays at a few tables for the
 * usual layouts (each table's data follows it).
 */
import type { RunList } from './tables.ts';

export class HostQueue {
  readonly kind: Uint8Array;
  readonly host: Float64Array;
  readonly hostLength: Float64Array;
  readonly guest: Float64Array;
  readonly length: Float64Array;
  i = 0;

  constructor(count: number) {
    this.kind = new Uint8Array(count);
    this.host = new Float64Array(count);
    this.hostLength = new Float64Array(count);
    this.guest = new Float64Array(count);
    this.length = new Float64Array(count);
  }

  get size(): number {
    return this.kind.length;
  }

  /** The runs of `list` that `keep` selects, sorted by host offset. */
  static fromRuns(list: RunList, keep: (kind: number) => boolean): HostQueue {
    const order: number[] = [];
    let sorted = true;
    for (let r = 0; r < list.count; r++) {
      if (!keep(list.kind[r]!)) continue;
      if (order.length > 0 && list.host[r]! < list.host[order[order.length - 1]!]!) sorted = false;
      order.push(r);
    }
    if (!sorted) order.sort((a, b) => list.host[a]! - list.host[b]!);
    const q = new HostQueue(order.length);
    order.forEach((r, i) => {
      q.kind[i] = list.kind[r]!;
      q.host[i] = list.host[r]!;
      q.hostLength[i] = list.hostLength[r]!;
      q.guest[i] = list.guest[r]!;
      q.length[i] = list.length[r]!;
    });
    return q;
  }

  /** One kind of item at each of `hosts` (unsorted), each `length` long, tagged with `tags`. */
  static of(kind: number, hosts: number[], tags: number[], length: number): HostQueue {
    const order = hosts.map((_, i) => i).sort((a, b) => hosts[a]! - hosts[b]!);
    const q = new HostQueue(order.length);
    order.forEach((src, i) => {
      q.kind[i] = kind;
      q.host[i] = hosts[src]!;
      q.hostLength[i] = length;
      q.length[i] = length;
      q.guest[i] = tags[src]!;
    });
    return q;
  }
}

/** Min-heap of queues keyed by each queue's next host offset. */
export class QueueHeap {
  private readonly items: HostQueue[] = [];

  private key(q: HostQueue): number {
    return q.host[q.i]!;
  }

  push(q: HostQueue): void {
    if (q.i >= q.size) return;
    const a = this.items;
    a.push(q);
    let c = a.length - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (this.key(a[p]!) <= this.key(a[c]!)) break;
      [a[p], a[c]] = [a[c]!, a[p]!];
      c = p;
    }
  }

  peek(): HostQueue | undefined {
    return this.items[0];
  }

  /** Moves the top queue past its current item and restores heap order. */
  advance(): void {
    const a = this.items;
    const top = a[0]!;
    top.i++;
    if (top.i >= top.size) {
      const last = a.pop()!;
      if (a.length === 0) return;
      a[0] = last;
    }
    let p = 0;
    for (;;) {
      const l = 2 * p + 1;
      const r = l + 1;
      let m = p;
      if (l < a.length && this.key(a[l]!) < this.key(a[m]!)) m = l;
      if (r < a.length && this.key(a[r]!) < this.key(a[m]!)) m = r;
      if (m === p) return;
      [a[p], a[m]] = [a[m]!, a[p]!];
      p = m;
    }
  }
}
