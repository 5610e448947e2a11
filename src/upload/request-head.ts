/**
 * A strict reader of one HTTP/1.1 request head, for the upload relay (docs/adr/0035). It only has
 * to recognise the plain case it relays; anything else (a bad line, an obsolete fold, a bare LF,
 * repeated framing headers) answers undefined and the connection goes to Node's HTTP server,
 * whose parser gives the proper 400.
 */
export interface RequestHead {
  method: string;
  /** The request target as sent (origin form). */
  target: string;
  /** Lower-cased names; a repeated header keeps every value. */
  headers: Map<string, string[]>;
  /** Bytes of the head, its closing blank line included. */
  length: number;
}

const HeadEnd = Buffer.from('\r\n\r\n');
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const requestLine = /^([A-Z]+) (\/[^\s]*) HTTP\/1\.1$/;
// Visible ASCII, spaces and tabs, and obs-text; no control characters.
const fieldValue = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Where the head in `bytes` ends (the index after its blank line), or -1 while it is incomplete. */
export function headEnd(bytes: Buffer): number {
  const at = bytes.indexOf(HeadEnd);
  return at < 0 ? -1 : at + HeadEnd.length;
}

/** The head at the start of `bytes`, which must hold all of it (see headEnd); undefined when it is not plain HTTP/1.1. */
export function parseRequestHead(bytes: Buffer): RequestHead | undefined {
  const length = headEnd(bytes);
  if (length < 0) return undefined;
  const text = bytes.toString('latin1', 0, length - HeadEnd.length);
  const lines = text.split('\r\n');
  if (lines.some((line) => line.includes('\n') || line.includes('\r'))) return undefined;
  const first = requestLine.exec(lines[0]!);
  if (!first) return undefined;
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!token.test(name)) return undefined;
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!fieldValue.test(value)) return undefined;
    const key = name.toLowerCase();
    const values = headers.get(key);
    if (values) values.push(value);
    else headers.set(key, [value]);
  }
  return { method: first[1]!, target: first[2]!, headers, length };
}

/** The one value of a header, undefined when it is absent or repeated. */
export function singleHeader(head: RequestHead, name: string): string | undefined {
  const values = head.headers.get(name);
  return values?.length === 1 ? values[0] : undefined;
}

/** A body length given once, as decimal digits only; undefined otherwise. */
export function contentLength(head: RequestHead): number | undefined {
  const value = singleHeader(head, 'content-length');
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}
