/**
 * JSON with exact 64-bit integers. Iceberg metadata holds snapshot ids up to 2^63 - 1, which
 * `JSON.parse` rounds to the nearest double. Here an integer literal that is not a safe
 * integer parses to a bigint, and a bigint serialises as bare digits.
 */

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Parses JSON text; integers outside ±(2^53 - 1) become bigints. Throws SyntaxError with the offset. */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  const value = parser.value();
  parser.end();
  return value;
}

/**
 * Serialises a JSON-shaped value compactly; bigints become bare integer literals, `undefined`
 * members are skipped. Throws a TypeError on values JSON cannot hold (functions, NaN, …).
 */
export function stringifyJson(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`Cannot serialise ${value} as JSON.`);
      return JSON.stringify(value);
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`Cannot serialise a ${typeof value} as JSON.`);
  }
  if (Array.isArray(value)) return `[${value.map((item: unknown) => stringifyJson(item)).join(',')}]`;
  const members: string[] = [];
  for (const [key, member] of Object.entries(value as object)) {
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${stringifyJson(member)}`);
  }
  return `{${members.join(',')}}`;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
/** A string token; JSON.parse then checks its escapes and rejects raw control characters. */
const STRING = /"(?:[^"\\]|\\[\s\S])*"/y;
const WHITESPACE = /[ \t\n\r]*/y;

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  value(): JsonValue {
    this.skipWhitespace();
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [literal, result] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(literal, this.pos)) {
        this.pos += literal.length;
        return result;
      }
    }
    return this.fail('a value');
  }

  end(): void {
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail('the end of the text');
  }

  private object(): JsonObject {
    const result: JsonObject = {};
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail('a member name');
      const key = this.string();
      this.skipWhitespace();
      this.expect(':');
      // defineProperty keeps a member named "__proto__" an ordinary member.
      Object.defineProperty(result, key, {
        value: this.value(),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.skipWhitespace();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      this.expect('}');
      return result;
    }
  }

  private array(): JsonValue[] {
    const result: JsonValue[] = [];
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return result;
    }
    for (;;) {
      result.push(this.value());
      this.skipWhitespace();
      if (this.text[this.pos] === ',') {
        this.pos++;
        continue;
      }
      this.expect(']');
      return result;
    }
  }

  private string(): string {
    STRING.lastIndex = this.pos;
    const match = STRING.exec(this.text);
    if (match === null) return this.fail('a valid string');
    let value: string;
    try {
      value = JSON.parse(match[0]) as string;
    } catch {
      return this.fail('a valid string');
    }
    this.pos = STRING.lastIndex;
    return value;
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail('a number');
    this.pos = NUMBER.lastIndex;
    const literal = match[0];
    const n = Number(literal);
    if (match[1] === undefined && match[2] === undefined && !Number.isSafeInteger(n)) return BigInt(literal);
    return n;
  }

  private expect(char: string): void {
    if (this.text[this.pos] !== char) this.fail(`"${char}"`);
    this.pos++;
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.pos;
    WHITESPACE.exec(this.text);
    this.pos = WHITESPACE.lastIndex;
  }

  private fail(expected: string): never {
    const found =
      this.pos < this.text.length ? JSON.stringify(this.text.slice(this.pos, this.pos + 20)) : 'the end';
    throw new SyntaxError(`Invalid JSON at offset ${this.pos}: expected ${expected}, found ${found}.`);
  }
}
