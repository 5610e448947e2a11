import { Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { exposition, MetricFamily, metricsContentType } from './metrics-text.ts';

/** The same values through prom-client (what the workers printed before) and through ours. */
describe('worker metrics text', () => {
  it('prints byte for byte what prom-client printed', async () => {
    const registry = new Registry();
    const theirs = {
      progress: new Counter({ name: 'kubevirt_cdi_import_progress_total', help: 'The import progress in percentage', labelNames: ['ownerUID'], registers: [registry] }),
      stage: new Gauge({ name: 'kubevirt_cdi_import_stage', help: 'The importer stage\nwith a \\ backslash', labelNames: ['ownerUID', 'stage'], registers: [registry] }),
      unset: new Gauge({ name: 'kubevirt_cdi_import_bytes_written', help: 'Disk bytes', labelNames: ['ownerUID'], registers: [registry] }),
    };
    const progress = new MetricFamily('kubevirt_cdi_import_progress_total', 'The import progress in percentage', 'counter', ['ownerUID']);
    const stage = new MetricFamily('kubevirt_cdi_import_stage', 'The importer stage\nwith a \\ backslash', 'gauge', ['ownerUID', 'stage']);
    const unset = new MetricFamily('kubevirt_cdi_import_bytes_written', 'Disk bytes', 'gauge', ['ownerUID']);
    const owner = 'uid "quoted" \\ and\nnewline';
    for (const by of [0, 12.5, 0.1, 0.2]) {
      theirs.progress.inc({ ownerUID: owner }, by);
      progress.inc({ ownerUID: owner }, by);
    }
    const values: Array<[string, number]> = [['Info', 1], ['TransferDataFile', 0], ['Big', 1e21], ['Tiny', 1e-7], ['NaN', NaN], ['Inf', Infinity], ['MinusInf', -Infinity], ['Info', 0]];
    for (const [name, value] of values) {
      theirs.stage.set({ ownerUID: 'u', stage: name }, value);
      stage.set({ ownerUID: 'u', stage: name }, value);
    }
    expect(exposition([progress, stage, unset])).toBe(await registry.metrics());
    expect(metricsContentType).toBe(registry.contentType);
  });

  it('refuses to decrease a counter', () => {
    const counter = new MetricFamily('x_total', 'x', 'counter', ['ownerUID']);
    expect(() => counter.inc({ ownerUID: 'u' }, -1)).toThrow(RangeError);
  });
});
