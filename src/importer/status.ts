import type { ProgressEvent } from '../format/index.ts';
import type { ByteMeter } from '../sources/meter.ts';

/** CDI's data-processor phase names where they fit our one-pass pipeline. */
export type ImportStage = 'Info' | 'TransferDataFile' | 'TransferDataDir' | 'Validate' | 'Resize' | 'Complete' | 'Error';

const engineStages: Record<string, ImportStage | undefined> = {
  detect: 'Info',
  verify: 'Validate',
  finish: 'Resize',
};

/**
 * What the worker is doing right now: the stage, bytes done and a percentage. The metrics
 * server, the CLI progress bar and the termination message all read it.
 */
export class ImportStatus {
  stage: ImportStage = 'Info';
  sourceBytes = 0;
  sourceTotal: number | undefined;
  writtenBytes = 0;
  private meter: ByteMeter | undefined;
  private readonly transferStage: ImportStage;

  constructor(contentType: 'kubevirt' | 'archive' = 'kubevirt') {
    this.transferStage = contentType === 'archive' ? 'TransferDataDir' : 'TransferDataFile';
  }

  /** Network bytes come from the source's meter (sources count what they fetch). */
  attach(meter: ByteMeter): void {
    this.meter = meter;
  }

  /** The engine's progress events: written bytes and its stage. */
  onEngine(event: ProgressEvent): void {
    this.writtenBytes = Math.max(this.writtenBytes, event.writtenBytes);
    if (!this.meter) {
      this.sourceBytes = event.sourceBytes;
      this.sourceTotal = event.sourceTotal;
    }
    if (event.stage === 'done' || event.stage === 'failed') return;
    this.stage = engineStages[event.stage] ?? this.transferStage;
  }

  /** Bytes of the source received so far. */
  bytesDone(): number {
    return this.meter ? this.meter.done : this.sourceBytes;
  }

  /** 0–100; 100 only once complete. Undefined while the total is unknown. */
  percent(): number | undefined {
    if (this.stage === 'Complete') return 100;
    if (this.meter) return this.meter.percent();
    if (!this.sourceTotal) return undefined;
    return Math.min(99.99, (this.sourceBytes / this.sourceTotal) * 100);
  }
}
