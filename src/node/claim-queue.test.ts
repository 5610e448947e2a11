import { describe, expect, it } from 'vitest';
import { silentLogger } from '../api/logger.ts';
import { ClaimQueue } from './claim-queue.ts';

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe('ClaimQueue', () => {
  it('removes a deleted claim\'s data only after a sync of that claim already under way has finished', async () => {
    const log: string[] = [];
    const inFlight = gate();
    const idle = gate();
    const q = new ClaimQueue({
      async sync(ns, name) {
        log.push(`sync ${ns}/${name}`);
        // The first sync read the claim before its deletion and is still provisioning.
        if (log.length === 1) await inFlight.wait;
        log.push(`synced ${ns}/${name}`);
        if (log.length === 5) idle.open();
      },
      async remove(ns, uid) {
        log.push(`remove ${ns}/${uid}`);
      },
    }, silentLogger);
    q.changed('default', 'blk');
    q.removed('default', 'blk', 'uid-1');
    q.changed('default', 'blk');
    expect(log).toEqual(['sync default/blk']);
    inFlight.open();
    await idle.wait;
    expect(log).toEqual(['sync default/blk', 'synced default/blk', 'remove default/uid-1', 'sync default/blk', 'synced default/blk']);
    await q.close();
  });

  it('keeps a removal that failed and runs it again before the next sync', async () => {
    const log: string[] = [];
    const done = gate();
    let attempts = 0;
    const q = new ClaimQueue({
      async sync(ns, name) {
        log.push(`sync ${ns}/${name}`);
        if (attempts === 2) done.open();
      },
      async remove(_ns, uid) {
        attempts += 1;
        log.push(`remove ${uid}`);
        if (attempts === 1) throw new Error('EBUSY');
      },
    }, silentLogger);
    q.removed('ns1', 'c', 'uid-2');
    await done.wait;
    expect(log).toEqual(['remove uid-2', 'remove uid-2', 'sync ns1/c']);
    await q.close();
  });
});
