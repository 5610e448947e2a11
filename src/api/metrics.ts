/** Prometheus metric names of the workers, upstream CDI's where CDI has them. */
export const WorkerMetrics = {
  importProgress: 'kubevirt_cdi_import_progress_total',
  cloneProgress: 'kubevirt_cdi_clone_progress_total',
  /** Ours (CDI #4021): 1 for the stage the worker is in, label `stage`. */
  stage: 'kubevirt_cdi_import_stage',
  /** Ours (CDI #1502): source bytes received so far. */
  bytesProcessed: 'kubevirt_cdi_import_bytes_processed',
} as const;

export interface ScrapedProgress {
  /** Percent 0..100 when the worker exposes it for this owner. */
  percent?: number;
  stage?: string;
  bytes?: number;
}

const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}\s+([-+0-9.eE]+|NaN)/;

function labels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Reads the progress (and our stage metric) for one owner from a Prometheus text exposition. */
export function parseWorkerMetrics(text: string, ownerUid: string): ScrapedProgress {
  const result: ScrapedProgress = {};
  for (const raw of text.split('\n')) {
    const m = line.exec(raw.trim());
    if (!m) continue;
    const [, name, labelText, value] = m;
    const l = labels(labelText ?? '');
    if (l.ownerUID !== undefined && l.ownerUID !== ownerUid) continue;
    if (name === WorkerMetrics.importProgress || name === WorkerMetrics.cloneProgress) {
      const n = Number(value);
      if (Number.isFinite(n)) result.percent = Math.max(result.percent ?? 0, n);
    } else if (name === WorkerMetrics.bytesProcessed) {
      const n = Number(value);
      if (Number.isFinite(n)) result.bytes = n;
    } else if (l.stage !== undefined && Number(value) === 1) {
      result.stage = l.stage;
    }
  }
  return result;
}
