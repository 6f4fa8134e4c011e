import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../runtime/event-source-mapping/partitioner.ts';
import { jsonLinesTopic, topicNameOf } from './jsonl-topic.ts';

const MTIME = 1_700_000_000_000;
const decode = (base64: string | null | undefined) =>
  base64 == null ? base64 : Buffer.from(base64, 'base64').toString('utf8');

describe('jsonLinesTopic', () => {
  it('gives each non-blank line the next offset of the partition its key hashes to, value as-is', () => {
    const text = '{"id":7,"v":1}\r\n\n   \n{"id":"x","v":2}\nnot json\n{"id":7,"v":3}';

    const { log, records, withoutKey } = jsonLinesTopic(text, {
      topic: 't',
      partitions: 4,
      key: 'id',
      defaultTimestamp: MTIME,
    });

    expect(records).toBe(4);
    expect(withoutKey).toBe(1);
    const all = log.partitions.flat().map((r) => ({
      partition: r.partition,
      offset: r.offset,
      key: decode(r.key),
      value: decode(r.value),
    }));
    const p7 = partitionForKey('7', 4);
    expect(all).toEqual(
      expect.arrayContaining([
        { partition: p7, offset: 0, key: '7', value: '{"id":7,"v":1}' },
        { partition: p7, offset: 1, key: '7', value: '{"id":7,"v":3}' },
        {
          partition: partitionForKey('x', 4),
          offset: expect.any(Number),
          key: 'x',
          value: '{"id":"x","v":2}',
        },
        // The first record without a key starts the round-robin at partition 0.
        { partition: 0, offset: expect.any(Number), key: undefined, value: 'not json' },
      ]),
    );
    expect(all).toHaveLength(4);
  });

  it('keeps a line that is not UTF-8 byte for byte, and drops a byte order mark before the first line', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"a":1}\n'),
      Buffer.from([0xff, 0xfe, 0x0a]),
    ]);

    const { log } = jsonLinesTopic(bytes, { topic: 't', partitions: 1, defaultTimestamp: MTIME });

    expect(log.partitions[0]!.map((r) => Buffer.from(r.value!, 'base64'))).toEqual([
      Buffer.from('{"a":1}'),
      Buffer.from([0xff, 0xfe]),
    ]);
  });

  it.each([
    ['an epoch-ms number', 1_600_000_000_123, 1_600_000_000_123],
    ['an ISO-8601 string', '2023-11-14T22:13:20.500Z', 1_700_000_000_500],
    ['a fractional number (floored)', 1.9, 1],
    ['an unparseable string (the file mtime)', 'yesterday', MTIME],
    ['a missing field (the file mtime)', undefined, MTIME],
  ])('takes the record timestamp from %s', (_name, value, expected) => {
    const { log } = jsonLinesTopic(JSON.stringify({ at: value }), {
      topic: 't',
      partitions: 1,
      timestamp: 'at',
      defaultTimestamp: MTIME,
    });
    expect(log.partitions[0]![0]!.timestamp).toBe(expected);
  });

  it.each([
    ['data/bids.jsonl', 'bids'],
    ['/tmp/my events (1).json', 'my_events__1_'],
    ['.jsonl', '.jsonl'],
  ])('names the topic of %s %s', (path, topic) => {
    expect(topicNameOf(path)).toBe(topic);
  });
});
