/**
 * The few worker metrics in Prometheus text format 0.0.4, printed byte for byte as prom-client
 * printed them (its formatting of values, escapes and blank lines between families), without
 * loading prom-client and its OpenTelemetry dependency into every worker.
 */
export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Readonly<Record<string, string>>;

const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** One counter or gauge family with labelled series, kept in the order they were first set. */
export class MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames: readonly string[];
  readonly #series = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string, type: 'counter' | 'gauge', labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.labelNames = labelNames;
  }

  set(labels: Labels, value: number): void {
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    const series = this.#series.get(key);
    if (series) series.value = value;
    else this.#series.set(key, { labels, value });
  }

  /** A counter only grows. */
  inc(labels: Labels, by: number): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter cannot decrease`);
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    this.set(labels, (this.#series.get(key)?.value ?? 0) + by);
  }

  text(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const { labels, value } of this.#series.values()) {
      const pairs = this.labelNames.filter((n) => labels[n] !== undefined).map((n) => `${n}="${escapeLabel(labels[n]!)}"`);
      out += `${this.name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}\n`;
    }
    return out;
  }
}

/** The exposition of several families, separated by a blank line as prom-client's registry does. */
export function exposition(families: readonly MetricFamily[]): string {
  return families.map((f) => f.text()).join('\n');
}
