import { WorkerMetrics } from '../api/metrics.ts';
import { exposition, MetricFamily } from '../worker/metrics-text.ts';

/** CDI's cloner metric: `kubevirt_cdi_clone_progress_total{ownerUID}`, a counter holding a percentage. */
export function cloneMetrics(ownerUID: string): { progress(percent: number): void; render(): string } {
  const family = new MetricFamily(WorkerMetrics.cloneProgress, 'The clone progress in percentage', 'counter', ['ownerUID']);
  let shown = 0;
  family.inc({ ownerUID }, 0);
  return {
    progress: (percent) => {
      if (percent <= shown) return;
      family.inc({ ownerUID }, percent - shown);
      shown = percent;
    },
    render: () => exposition([family]),
  };
}
