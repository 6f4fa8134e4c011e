import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../runtime/seeded-random.ts';
import { FieldScanner, type FieldValue } from './jsonl-fields.ts';
import { RecordMaker } from './jsonl-topic.ts';

/** What JSON.parse of the line gives for a field: the reference the scanner must match. */
function reference(line: Buffer, name: string): { object: boolean; value?: unknown; present: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return { object: false, present: false };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { object: false, present: false };
  const present = Object.hasOwn(parsed, name);
  return { object: true, present, value: present ? (parsed as Record<string, unknown>)[name] : undefined };
}

/** The value a scanned field stands for. */
function fieldValue(field: FieldValue): unknown {
  if (field.kind === 'parsed') return field.value;
  if (field.kind === 'integer') return Number(field.text);
  return field.text;
}

const NAMES = ['id', 'ts', 'é'];

function randomValue(random: () => number, depth: number): string {
  const pick = Math.floor(random() * (depth > 2 ? 8 : 10));
  const strings = [
    '"a"',
    '""',
    '"x\\"y"',
    '"\\u00e9t\\u00E9"',
    '"é"',
    '"a\\\\b"',
    '"tab\\t"',
    '"12"',
    '"\\ud800"',
  ];
  const numbers = ['0', '-0', '7', '-12', '1.5', '1e3', '2E-2', '123456789012345', '1234567890123456', '0.0'];
  switch (pick) {
    case 0:
    case 1:
      return strings[Math.floor(random() * strings.length)]!;
    case 2:
    case 3:
      return numbers[Math.floor(random() * numbers.length)]!;
    case 4:
      return ['true', 'false', 'null'][Math.floor(random() * 3)]!;
    case 5:
    case 6:
    case 7:
      return `"${'abcdefgh'.slice(0, Math.floor(random() * 8))}"`;
    case 8:
      return `[${Array.from({ length: Math.floor(random() * 3) }, () => randomValue(random, depth + 1)).join(',')}]`;
    default:
      return randomObject(random, depth + 1);
  }
}

function randomObject(random: () => number, depth: number): string {
  const names = [...NAMES, 'other', 'i\\u0064', '__proto__', 'toString', 'x'];
  const members = Array.from({ length: Math.floor(random() * 5) }, () => {
    const name = names[Math.floor(random() * names.length)]!;
    const space = random() < 0.2 ? ' \t' : '';
    return `${space}"${name}"${space}:${space}${randomValue(random, depth)}${space}`;
  });
  return `{${members.join(',')}}`;
}

/** A line changed a little: a byte removed, added, replaced or the line cut short. */
function mutate(line: string, random: () => number): Buffer {
  const bytes = Buffer.from(line, 'utf8');
  const at = Math.floor(random() * (bytes.length + 1));
  const noise = [0x22, 0x5c, 0x2c, 0x7d, 0x5d, 0x3a, 0x20, 0x01, 0xff, 0x30, 0x2e, 0x65, 0x7b];
  const byte = Buffer.from([noise[Math.floor(random() * noise.length)]!]);
  switch (Math.floor(random() * 4)) {
    case 0:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    case 1:
      return Buffer.concat([bytes.subarray(0, at), byte, bytes.subarray(at)]);
    case 2:
      return Buffer.concat([bytes.subarray(0, at), byte, bytes.subarray(at + 1)]);
    default:
      return bytes.subarray(0, at);
  }
}

describe('FieldScanner', () => {
  it('reads each field as JSON.parse of the line does, on generated and mutated lines', () => {
    const random = mulberry32(42);
    const scanner = new FieldScanner(NAMES);
    let checked = 0;
    let objects = 0;
    for (let i = 0; i < 20_000; i++) {
      const text = random() < 0.1 ? randomValue(random, 0) : randomObject(random, 0);
      const line = random() < 0.5 ? Buffer.from(text, 'utf8') : mutate(text, random);
      const scanned = scanner.scan(line);
      for (const [n, name] of NAMES.entries()) {
        const expected = reference(line, name);
        expect(scanned.object, line.toString()).toBe(expected.object);
        const field = scanned.values[n];
        expect(field !== undefined, `${line.toString()} ${name}`).toBe(expected.present);
        if (field !== undefined)
          expect(fieldValue(field), `${line.toString()} ${name}`).toEqual(expected.value);
        checked++;
      }
      if (scanned.object) objects++;
    }
    // Both valid objects and broken lines were seen in numbers.
    expect(objects).toBeGreaterThan(5_000);
    expect(checked - objects * NAMES.length).toBeGreaterThan(5_000);
  });

  it('takes the last of a repeated name, reads a line inside a larger buffer, and hands odd values to JSON.parse', () => {
    const scanner = new FieldScanner(['k']);
    const buffer = Buffer.from('xx{"k":1,"k":"two"}yy');
    expect(scanner.scan(buffer, 2, buffer.length - 2).values[0]).toMatchObject({
      kind: 'string',
      text: 'two',
    });
    expect(scanner.scan(Buffer.from('{"k":{"a":[1]}}')).values[0]).toEqual({
      kind: 'parsed',
      value: { a: [1] },
    });
    expect(scanner.scan(Buffer.from('{"k":12}')).values[0]).toMatchObject({ kind: 'integer', text: '12' });
    expect(scanner.scan(Buffer.from('{"k":-0}')).values[0]).toEqual({ kind: 'parsed', value: -0 });
    expect(scanner.scan(Buffer.from('{"k":1} x')).object).toBe(false);
    expect(scanner.scan(Buffer.from('[1]')).object).toBe(false);
    // Deeper than the scan recurses: JSON.parse decides.
    const deep = `{"k":1,"d":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    expect(scanner.scan(Buffer.from(deep)).values[0]).toEqual(
      expect.objectContaining({ kind: expect.stringMatching(/integer|parsed/) }),
    );
  });
});

describe('RecordMaker', () => {
  it('keys and places each generated and mutated line as the full scan does, when it reads the key where it lies', () => {
    const random = mulberry32(7);
    // With a timestamp field too, the maker reads the line's fields through `scan`: the reference.
    const options = { topic: 't', partitions: 7, defaultTimestamp: 0 };
    const fast = new RecordMaker({ ...options, key: 'id' });
    const full = new RecordMaker({ ...options, key: 'id', timestamp: 'not-there' });
    let keyed = 0;
    for (let i = 0; i < 20_000; i++) {
      const text = random() < 0.1 ? randomValue(random, 0) : randomObject(random, 0);
      const line = random() < 0.5 ? Buffer.from(text, 'utf8') : mutate(text, random);
      const made = fast.make(line, 0, line.length);
      expect(full.make(line, 0, line.length), line.toString()).toBe(made);
      if (!made) continue;
      expect(fast.partition, line.toString()).toBe(full.partition);
      expect(fast.record().key, line.toString()).toBe(full.record().key);
      expect(fast.bytes).toBe(full.bytes);
      if (fast.record().key !== undefined) keyed++;
    }
    expect(fast.withoutKey).toBe(full.withoutKey);
    expect(keyed).toBeGreaterThan(3_000);
    expect(fast.withoutKey).toBeGreaterThan(3_000);
  });

  it('counts the bytes of records whose offsets and timestamps have many digits', () => {
    for (const defaultTimestamp of [0, -5, 1_700_000_000_000, -62_135_596_800_000]) {
      const maker = new RecordMaker({ topic: 't', partitions: 1, key: 'id', defaultTimestamp });
      const line = Buffer.from('{"id":7}');
      for (let i = 0; i <= 100_001; i++) {
        maker.make(line, 0, line.length);
        if (i % 9_999 === 0 || i === 10_000 || i === 100_000)
          expect(maker.bytes).toBe(Buffer.byteLength(JSON.stringify(maker.record())));
      }
    }
  });
});
