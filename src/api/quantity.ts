/** Kubernetes resource quantities ("10Gi", "1.5G", "500M", 1024) as byte counts. */
const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };

/** Bytes (rounded up to an integer) or undefined when the text is not a quantity. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined || q === null) return undefined;
  if (typeof q === 'number') return Number.isFinite(q) ? Math.ceil(q) : undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)|[eE]([+-]?\d+))?$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const suffix = m[2];
  const mult = m[3] !== undefined ? 10 ** Number(m[3]) : suffix ? (binary[suffix] ?? decimal[suffix] ?? 1) : 1;
  return Math.ceil(n * mult);
}

export const MiB = 2 ** 20;

export function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

/**
 * CDI's GetUsableSpace: the bytes of a filesystem volume an image may use once the filesystem
 * overhead (a fraction, e.g. 0.055) is taken off, rounded down to whole MiB.
 */
export function usableSpace(available: number, filesystemOverhead: number): number {
  return Math.floor(Math.ceil((1 - filesystemOverhead) * available) / MiB) * MiB;
}

/** A byte count as the largest exact binary unit ("10Gi", "1536Mi", "1000"). */
export function formatQuantity(bytes: number): string {
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = binary[unit] ?? 1;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

const decimalExponent: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const binaryExponent: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const decimalSuffix = Object.fromEntries(Object.entries(decimalExponent).map(([s, e]) => [e, s])) as Record<number, string>;
const binarySuffix = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** The message kube-apiserver answers for a quantity it cannot parse. */
export const QuantitySyntaxError = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/**
 * A quantity in Kubernetes' canonical form (resource.Quantity's String): the suffix family of
 * the input is kept (binary Ki..Ei, decimal SI n..E, or an exponent), values are rounded up to
 * nano units, binary quantities that are not whole or lie within ±1024 are written in decimal
 * SI, and the largest exact unit is chosen ("1024Mi" → "1Gi", "1.5k" → "1500", "0.5" → "500m").
 * Undefined when the text is not a quantity.
 */
export function canonicalQuantity(text: string | number): string | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/.exec(String(text).trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const negative = m[1] === '-';
  const suffix = m[4] ?? '';
  const fraction = m[3] ?? '';
  // The value is mantissa × 10^exp10 × 1024^exp1024, all integers.
  let mantissa = BigInt(`${m[2] || '0'}${fraction}`);
  let exp10 = -fraction.length;
  let format: 'binary' | 'decimal' | 'exponent' = 'decimal';
  if (suffix in binaryExponent) {
    format = 'binary';
    mantissa *= 1024n ** BigInt(binaryExponent[suffix]!);
  } else if (/^[eE]/.test(suffix)) {
    format = 'exponent';
    exp10 += Number(suffix.slice(1));
  } else exp10 += decimalExponent[suffix]!;
  if (mantissa === 0n) return '0';
  // Nano precision, rounding away from zero as inf.Dec's RoundUp does.
  if (exp10 < -9) {
    const div = 10n ** BigInt(-9 - exp10);
    mantissa = (mantissa + div - 1n) / div;
    exp10 = -9;
  }
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exp10++;
  }
  const sign = negative ? '-' : '';
  if (format === 'binary' && exp10 >= 0) {
    let whole = mantissa * 10n ** BigInt(exp10);
    if (whole >= 1024n) {
      let unit = 0;
      while (unit < 6 && whole % 1024n === 0n) {
        whole /= 1024n;
        unit++;
      }
      return `${sign}${whole}${binarySuffix[unit]}`;
    }
  }
  // Decimal forms: an exponent that is a multiple of three, the mantissa carrying the rest.
  const e3 = Math.floor(exp10 / 3) * 3;
  mantissa *= 10n ** BigInt(exp10 - e3);
  if (format === 'exponent') return `${sign}${mantissa}${e3 === 0 ? '' : `e${e3}`}`;
  const unit = decimalSuffix[e3];
  return unit === undefined ? `${sign}${mantissa}e${e3}` : `${sign}${mantissa}${unit}`;
}
