import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { workerStatus } from './worker-status.ts';

/** An importer pod whose container last exited 1 with `message`, now waiting to restart. */
function crashed(message: string): V1Pod {
  return {
    metadata: { name: 'importer-dv', namespace: 'default' },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'importer',
          image: 'cdi-ts/importer:latest',
          imageID: '',
          ready: false,
          restartCount: 1,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', message } },
        },
      ],
    },
  };
}

const enospc = 'Unable to process data: no space left on target /var/lib/cdi/volumes/default/dv/disk.img: ENOSPC: no space left on device, write (stage: convert, 1048576 bytes done)';
const efbig = 'Unable to process data: no space left on target /var/lib/cdi/volumes/default/dv/disk.img: EFBIG: file too large, write (stage: convert, 1048576 bytes done)';

describe('a worker that ran out of space', () => {
  it('on a volume of its own (a cluster) is a DataVolume too small, as in CDI', () => {
    expect(workerStatus(crashed(enospc)).running.message).toBe('DataVolume too small to contain image');
  });

  it('on cdi serve says the node disk is full when the disk is (ENOSPC), and too small when the volume is (EFBIG)', () => {
    expect(workerStatus(crashed(enospc), true).running.message).toBe(
      "no space left on device: the node's disk holding the volumes is full, not the DataVolume (CDI_ERR_NODE_DISK_FULL)",
    );
    expect(workerStatus(crashed(efbig), true).running.message).toBe('DataVolume too small to contain image');
  });
});
