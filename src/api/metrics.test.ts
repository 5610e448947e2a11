import { describe, expect, it } from 'vitest';
import { parseWorkerMetrics } from './metrics.ts';
import { Progress } from './phases.ts';

describe('parseWorkerMetrics', () => {
  const text = [
    '# HELP kubevirt_cdi_import_progress_total The import progress in percentage',
    '# TYPE kubevirt_cdi_import_progress_total counter',
    'kubevirt_cdi_import_progress_total{ownerUID="other"} 99',
    'kubevirt_cdi_import_progress_total{ownerUID="uid-1"} 45.5',
    'kubevirt_cdi_import_stage{ownerUID="uid-1",stage="transfer"} 0',
    'kubevirt_cdi_import_stage{ownerUID="uid-1",stage="convert"} 1',
    'kubevirt_cdi_import_bytes_processed{ownerUID="uid-1"} 3145728',
  ].join('\n');

  it('picks the owner progress and current stage', () => {
    expect(parseWorkerMetrics(text, 'uid-1')).toEqual({ percent: 45.5, stage: 'convert', bytes: 3145728 });
    expect(parseWorkerMetrics('', 'uid-1')).toEqual({});
  });

  it('formats progress as CDI does', () => {
    expect(Progress.format(45.5)).toBe('45.50%');
    expect(Progress.done).toBe('100.0%');
    expect(Progress.unknown).toBe('N/A');
  });
});
