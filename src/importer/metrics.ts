import { WorkerMetrics } from '../api/metrics.ts';
import { exposition, MetricFamily } from '../worker/metrics-text.ts';
import type { ImportStatus } from './status.ts';

/**
 * CDI's importer metrics: `kubevirt_cdi_import_progress_total{ownerUID}` (a counter holding a
 * percentage), plus the stage and bytes done, which CDI lacks. Values are refreshed every second
 * and on every scrape.
 */
export function importMetrics(status: ImportStatus, ownerUID: string): { render(): string; refresh(): void } {
  const progress = new MetricFamily(WorkerMetrics.importProgress, 'The import progress in percentage', 'counter', ['ownerUID']);
  const bytes = new MetricFamily(WorkerMetrics.bytesProcessed, 'Source bytes the importer has received', 'gauge', ['ownerUID']);
  const written = new MetricFamily('kubevirt_cdi_import_bytes_written', 'Disk bytes the importer has written', 'gauge', ['ownerUID']);
  const stage = new MetricFamily(WorkerMetrics.stage, 'The importer stage (1 for the current one)', 'gauge', ['ownerUID', 'stage']);
  let shown = 0;
  let shownStage = '';
  const refresh = (): void => {
    const percent = status.percent() ?? 0;
    // A counter only grows: add the difference, as CDI's progress reader does.
    if (percent > shown) {
      progress.inc({ ownerUID }, percent - shown);
      shown = percent;
    }
    bytes.set({ ownerUID }, status.bytesDone());
    written.set({ ownerUID }, status.writtenBytes);
    if (shownStage !== status.stage) {
      if (shownStage) stage.set({ ownerUID, stage: shownStage }, 0);
      stage.set({ ownerUID, stage: status.stage }, 1);
      shownStage = status.stage;
    }
  };
  progress.inc({ ownerUID }, 0);
  refresh();
  return {
    refresh,
    render: () => {
      refresh();
      return exposition([progress, bytes, written, stage]);
    },
  };
}
