import type { Reporter, TestModule } from 'vitest/node';

interface CoverageTotal { total: number; covered: number; pct: number }
/** The part of istanbul's CoverageMap (what `--coverage` hands reporters) this reporter reads. */
interface CoverageMap {
  getCoverageSummary(): Record<'statements' | 'branches' | 'functions' | 'lines', CoverageTotal>;
}

/**
 * Ends the run with one plain `N passed, N failed` line, the form CI reads. With `--coverage`
 * the coverage totals come just before it (vitest's own coverage reporters print after every
 * reporter has finished, which would push the totals line off the end).
 */
export default class TotalsReporter implements Reporter {
  private coverage: string | undefined;

  onCoverage(map: unknown): void {
    const summary = (map as CoverageMap).getCoverageSummary();
    const row = (name: keyof typeof summary): string => {
      const { pct, covered, total } = summary[name];
      return `${name.padEnd(11)}: ${String(pct).padStart(6)}% ( ${covered}/${total} )`;
    };
    this.coverage = ['', 'Coverage summary (src, importer, uploadproxy, uploadserver; in-process code only)',
      ...(['statements', 'branches', 'functions', 'lines'] as const).map(row)].join('\n');
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const reasons: string[] = [];
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else {
          skipped++;
          if (result.state === 'skipped' && result.note) reasons.push(`skipped: ${test.fullName}: ${result.note}`);
        }
      }
      if (mod.state() === 'failed' && mod.children.size === 0) failed++;
    }
    // Skips are for facts of the machine only (no root, no /usr/bin/kubectl); each says which.
    if (reasons.length) process.stdout.write(`\n${reasons.join('\n')}\n`);
    if (this.coverage) process.stdout.write(`${this.coverage}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
