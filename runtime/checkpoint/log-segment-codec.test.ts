/**
 * Partition log segments give back exactly the records written, whatever their keys, values and
 * other fields, and take less room than Lambda's record objects.
 */
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { workload } from '../../test/support/checkpoint-runs.ts';
import type { KafkaEventRecord } from '../source/kafka-event.ts';
import { decodeSegmentRecords, encodeSegment } from './log-segment-codec.ts';

const b64 = (bytes: number[] | string) =>
  (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes)).toString('base64');

describe('partition log segments', () => {
  it('give back exactly the records written: text, binary, empty, null and missing keys and values, headers, metadata', () => {
    const base = { topic: 'bids', partition: 3 };
    const records: KafkaEventRecord[] = [
      {
        ...base,
        offset: 10,
        timestamp: 1_700_000_000_000,
        timestampType: 'CREATE_TIME',
        key: b64('a'),
        value: b64('{"x":1}'),
        headers: [],
      },
      {
        ...base,
        offset: 11,
        timestamp: 1_699_999_999_000,
        timestampType: 'CREATE_TIME',
        key: b64([0xff, 0x00, 0xc3]),
        value: b64([0x80, 0x81]),
        headers: [{ trace: [1, 2, 3] }],
      },
      { ...base, offset: 15, timestamp: -5, timestampType: 'LOG_APPEND_TIME', key: null, value: null },
      { ...base, offset: 16, timestamp: 0, key: '', value: '' },
      {
        ...base,
        offset: 17,
        timestamp: 7,
        value: b64('ü日本'),
        valueSchemaMetadata: { dataFormat: 'AVRO', schemaId: '12' },
      },
      // Not canonical base64 (no padding): kept as given, never re-encoded.
      { ...base, offset: 18, timestamp: 8, key: 'YQ', value: 'YWI' },
    ];
    expect(decodeSegmentRecords(encodeSegment(records), 'test')).toEqual(records);
  });

  it('take about a third less room than the records as Lambda sends them, after zstd', () => {
    const w = workload({ count: 500, batchSize: 125, partitions: 1 });
    const records = Object.values(w.events[0]!.records).flat();
    const compact = zstdCompressSync(encodeSegment(records)).length;
    const plain = zstdCompressSync(Buffer.from(JSON.stringify(records))).length;
    expect(compact).toBeLessThan(plain * 0.75);
  });

  it('refuses records of two partitions, and bytes that are not a segment', () => {
    const a = { topic: 't', partition: 0, offset: 0, timestamp: 0, value: null };
    expect(() => encodeSegment([a, { ...a, partition: 1, offset: 1 }])).toThrow(
      /one partition's records: t-0, not t-1/,
    );
    expect(() => decodeSegmentRecords(new TextEncoder().encode('{"format":1}'), 'k')).toThrow(
      /k is not a Floe segment/,
    );
  });
});
