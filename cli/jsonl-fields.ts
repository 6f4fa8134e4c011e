/**
 * The `--key` and `--timestamp` fields of a JSON lines record, read from the line's bytes without
 * building the object: `floe run` reads every line of its input for them before the engine decodes
 * it, and `JSON.parse` of each line (with its UTF-8 decoding) cost as much as the engine's own work.
 *
 * The result is exactly what `JSON.parse` of the line gives: a line that is not one JSON object is
 * no fields (the record goes round-robin and the job's decoder makes it a dead letter), a repeated
 * name takes its last value, and a value other than a plain string or a short integer is handed to
 * `JSON.parse` itself. The scan validates the whole line as JSON (RFC 8259, as V8 accepts it);
 * cli/jsonl-fields.test.ts checks it against `JSON.parse` on generated and mutated lines.
 */

/**
 * What {@link FieldScanner.locate} found: one JSON object, whose wanted fields' positions are
 * known; not one; or a line only `JSON.parse` can tell (see `scan`).
 */
export const Located = { Object: 0, NotAnObject: 1, Unsure: 2 } as const;
export type Located = (typeof Located)[keyof typeof Located];

/** What a line holds for the wanted fields. */
export interface LineFields {
  /** False when the line is not one JSON object: no field is read. */
  readonly object: boolean;
  /** The value of each wanted field, by its index in the names given; undefined when absent. */
  readonly values: (FieldValue | undefined)[];
}

/** A field's value, as its raw bytes in the line, with the cheap cases decoded. */
export type FieldValue =
  /** A string without escapes: `text` is its content, `raw` its bytes (the UTF-8 of text when ascii). */
  | {
      readonly kind: 'string';
      readonly text: string;
      readonly start: number;
      readonly end: number;
      readonly ascii: boolean;
    }
  /** An integer written as JavaScript writes it (no sign of zero, no leading zeros, at most 15 digits). */
  | { readonly kind: 'integer'; readonly text: string; readonly start: number; readonly end: number }
  /** Anything else (true, false, null, other numbers, strings with escapes, objects, arrays): its value. */
  | { readonly kind: 'parsed'; readonly value: unknown };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Scans one line (its bytes, without the line ending) for the fields `names` (each as its UTF-8
 * bytes) at the top level of a JSON object.
 */
export class FieldScanner {
  private readonly names: readonly Buffer[];
  private line: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;
  /** Start and end of the value of each wanted name, the last one seen; -1 when not seen. */
  private readonly starts: number[];
  private readonly ends: number[];
  private readonly plain: boolean[];
  /** A member name that cannot be compared byte for byte (escapes, non-ASCII): JSON.parse decides. */
  private unsure = false;

  constructor(names: readonly string[]) {
    this.names = names.map((name) => Buffer.from(name, 'utf8'));
    this.starts = names.map(() => -1);
    this.ends = names.map(() => -1);
    this.plain = names.map(() => false);
  }

  scan(line: Buffer, start = 0, end = line.length): LineFields {
    const found = this.locate(line, start, end);
    if (found === Located.NotAnObject) return NOT_AN_OBJECT;
    if (found === Located.Unsure) return slowFields(line.toString('utf8', start, end), this.names);
    const values: (FieldValue | undefined)[] = [];
    for (let i = 0; i < this.names.length; i++) values.push(this.valueOf(i));
    return { object: true, values };
  }

  /**
   * The scan without building its result: on `Located.Object`, where each wanted field's value
   * lies (`valueStart`, `valueEnd`, `plainString`); otherwise ask `scan`, which decides the
   * cases this cannot (names with escapes or non-ASCII bytes, deep nesting) by `JSON.parse`.
   */
  locate(line: Buffer, start = 0, end = line.length): Located {
    this.line = line;
    this.pos = start;
    this.end = end;
    this.unsure = false;
    this.starts.fill(-1);
    let valid: boolean;
    try {
      valid = this.document();
    } catch (error) {
      // Nesting too deep for the scan's recursion: JSON.parse decides.
      if (error !== INVALID) return Located.Unsure;
      valid = false;
    }
    if (!valid) return Located.NotAnObject;
    return this.unsure ? Located.Unsure : Located.Object;
  }

  /** After `locate`: where the value of wanted field `i` starts (-1: absent). */
  valueStart(i: number): number {
    return this.starts[i]!;
  }

  /** After `locate`: where the value of wanted field `i` ends (exclusive). */
  valueEnd(i: number): number {
    return this.ends[i]!;
  }

  /** After `locate`: whether the value of wanted field `i` is a string without escapes. */
  plainString(i: number): boolean {
    return this.plain[i]! && this.line[this.starts[i]!] === QUOTE;
  }

  private valueOf(i: number): FieldValue | undefined {
    const start = this.starts[i]!;
    if (start < 0) return undefined;
    const end = this.ends[i]!;
    const line = this.line;
    const first = line[start]!;
    if (first === QUOTE && this.plain[i]) {
      // A string without escapes: its content is the bytes between the quotes.
      let ascii = true;
      for (let p = start + 1; p < end - 1; p++) {
        if (line[p]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      const text = ascii
        ? line.toString('latin1', start + 1, end - 1)
        : line.toString('utf8', start + 1, end - 1);
      return { kind: 'string', text, start: start + 1, end: end - 1, ascii };
    }
    if (isCanonicalInteger(line, start, end)) {
      return { kind: 'integer', text: line.toString('latin1', start, end), start, end };
    }
    return { kind: 'parsed', value: JSON.parse(line.toString('utf8', start, end)) };
  }

  /** The whole line: whitespace, one value, whitespace. True when that value is an object. */
  private document(): boolean {
    this.whitespace();
    if (this.pos >= this.end) return false;
    const isObject = this.line[this.pos] === 0x7b;
    if (isObject) this.object(true);
    else this.value();
    this.whitespace();
    return this.pos === this.end && isObject;
  }

  private value(): void {
    if (this.pos >= this.end) throw INVALID;
    const c = this.line[this.pos]!;
    if (c === 0x7b) this.object(false);
    else if (c === 0x5b) this.array();
    else if (c === QUOTE) this.string();
    else if (c === 0x74) this.literal(TRUE);
    else if (c === 0x66) this.literal(FALSE);
    else if (c === 0x6e) this.literal(NULL);
    else this.number();
  }

  private object(top: boolean): void {
    this.pos++; // {
    this.whitespace();
    if (this.peek() === 0x7d) {
      this.pos++;
      return;
    }
    for (;;) {
      this.whitespace();
      if (this.peek() !== QUOTE) throw INVALID;
      const nameStart = this.pos + 1;
      const escaped = this.string();
      const nameEnd = this.pos - 1;
      this.whitespace();
      if (this.peek() !== 0x3a) throw INVALID;
      this.pos++; // :
      this.whitespace();
      const valueStart = this.pos;
      let plain = true;
      if (this.peek() === QUOTE) plain = !this.string();
      else this.value();
      if (top) this.member(nameStart, nameEnd, escaped, valueStart, plain);
      this.whitespace();
      const c = this.peek();
      this.pos++;
      if (c === 0x7d) return;
      if (c !== 0x2c) throw INVALID;
    }
  }

  /** Records a top-level member whose name is wanted; `plain`: a string value without escapes (or not a string). */
  private member(
    nameStart: number,
    nameEnd: number,
    escaped: boolean,
    valueStart: number,
    plain: boolean,
  ): void {
    const line = this.line;
    if (escaped) {
      this.unsure = true;
      return;
    }
    for (let p = nameStart; p < nameEnd; p++) {
      if (line[p]! >= 0x80) {
        // Bytes that may not be UTF-8 decode to U+FFFD: compare decoded names instead.
        this.unsure = true;
        return;
      }
    }
    const length = nameEnd - nameStart;
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i]!;
      if (name.length !== length) continue;
      let same = true;
      for (let k = 0; k < length; k++) {
        if (name[k] !== line[nameStart + k]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.starts[i] = valueStart;
        this.ends[i] = this.pos;
        this.plain[i] = plain;
      }
    }
  }

  private array(): void {
    this.pos++; // [
    this.whitespace();
    if (this.peek() === 0x5d) {
      this.pos++;
      return;
    }
    for (;;) {
      this.whitespace();
      this.value();
      this.whitespace();
      const c = this.peek();
      this.pos++;
      if (c === 0x5d) return;
      if (c !== 0x2c) throw INVALID;
    }
  }

  /** A string at pos (its opening quote); returns whether it holds an escape. */
  private string(): boolean {
    const line = this.line;
    const end = this.end;
    let p = this.pos + 1;
    let escaped = false;
    for (;;) {
      if (p >= end) throw INVALID;
      const c = line[p]!;
      if (c === QUOTE) break;
      if (c < 0x20) throw INVALID;
      if (c === BACKSLASH) {
        escaped = true;
        const e = line[p + 1];
        if (e === 0x75) {
          // \uXXXX
          for (let k = p + 2; k < p + 6; k++) if (k >= end || !isHex(line[k]!)) throw INVALID;
          p += 6;
          continue;
        }
        if (
          e !== QUOTE &&
          e !== BACKSLASH &&
          e !== 0x2f &&
          e !== 0x62 &&
          e !== 0x66 &&
          e !== 0x6e &&
          e !== 0x72 &&
          e !== 0x74
        )
          throw INVALID;
        p += 2;
        continue;
      }
      p++;
    }
    this.pos = p + 1;
    return escaped;
  }

  private number(): void {
    const line = this.line;
    const end = this.end;
    let p = this.pos;
    if (line[p] === 0x2d) p++;
    if (p >= end) throw INVALID;
    if (line[p] === 0x30) p++;
    else if (isDigit(line[p]!)) while (p < end && isDigit(line[p]!)) p++;
    else throw INVALID;
    if (p < end && line[p] === 0x2e) {
      p++;
      if (p >= end || !isDigit(line[p]!)) throw INVALID;
      while (p < end && isDigit(line[p]!)) p++;
    }
    if (p < end && (line[p] === 0x65 || line[p] === 0x45)) {
      p++;
      if (p < end && (line[p] === 0x2b || line[p] === 0x2d)) p++;
      if (p >= end || !isDigit(line[p]!)) throw INVALID;
      while (p < end && isDigit(line[p]!)) p++;
    }
    this.pos = p;
  }

  private literal(bytes: readonly number[]): void {
    if (this.pos + bytes.length > this.end) throw INVALID;
    for (let k = 0; k < bytes.length; k++) if (this.line[this.pos + k] !== bytes[k]) throw INVALID;
    this.pos += bytes.length;
  }

  private whitespace(): void {
    const line = this.line;
    let p = this.pos;
    while (p < this.end) {
      const c = line[p]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      p++;
    }
    this.pos = p;
  }

  private peek(): number {
    return this.pos < this.end ? this.line[this.pos]! : -1;
  }
}

const INVALID = Symbol('invalid JSON');
const NOT_AN_OBJECT: LineFields = Object.freeze({ object: false, values: [] });
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/** An integer String(JSON.parse(raw)) writes back as raw: no "-0", no leading zero, at most 15 digits. */
export function isCanonicalInteger(line: Buffer, start: number, end: number): boolean {
  let p = start;
  if (line[p] === 0x2d) p++;
  const digits = end - p;
  if (digits < 1 || digits > 15) return false;
  if (line[p] === 0x30) return digits === 1 && p === start;
  for (; p < end; p++) if (!isDigit(line[p]!)) return false;
  return true;
}

/** The fields as JSON.parse of the decoded line gives them (names with escapes or non-ASCII bytes). */
function slowFields(text: string, names: readonly Buffer[]): LineFields {
  let object: unknown;
  try {
    object = JSON.parse(text);
  } catch {
    return NOT_AN_OBJECT;
  }
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return NOT_AN_OBJECT;
  return {
    object: true,
    values: names.map((name) => {
      const key = name.toString('utf8');
      return Object.hasOwn(object, key)
        ? { kind: 'parsed', value: (object as Record<string, unknown>)[key] }
        : undefined;
    }),
  };
}
