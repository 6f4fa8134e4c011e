import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { KafkaEvent, KafkaEventRecord } from '../source/kafka-event.ts';
import {
  eventBatches,
  kafkaEvent,
  LAMBDA_PAYLOAD_LIMIT_BYTES,
  type ProducerRecord,
  payloadBytes,
  produceToTopic,
  recordBytes,
  type TopicLog,
} from './event-builder.ts';
import { partitionForKey } from './partitioner.ts';

function fixture(name: string): KafkaEvent {
  return JSON.parse(readFileSync(new URL(`../../examples/events/${name}`, import.meta.url), 'utf8'));
}

const text = (b64: string | null | undefined) =>
  b64 === null || b64 === undefined ? b64 : Buffer.from(b64, 'base64').toString('utf8');

/** `count` records keyed by auction ids 1000..1000+keys-1, values numbered in send order. */
function records(count: number, keys = 25): ProducerRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    key: String(1000 + ((i * 7) % keys)),
    value: JSON.stringify({ seq: i }),
    timestamp: 1_700_000_000_000 + i,
  }));
}

/** Every record of every event, in delivery order. */
function delivered(events: readonly KafkaEvent[]): KafkaEventRecord[] {
  return events.flatMap((event) => Object.values(event.records).flat());
}

function partitionsOf(event: KafkaEvent): number[] {
  return Object.values(event.records).map((group) => group[0]!.partition);
}

describe('produceToTopic', () => {
  it('puts each keyed record on the partition Kafka would, with offsets from 0 per partition', () => {
    const log = produceToTopic(records(200), { topic: 'bids', partitions: 4 });

    expect(log.partitions).toHaveLength(4);
    expect(log.partitions.flat()).toHaveLength(200);
    log.partitions.forEach((list, partition) => {
      expect(list.map((r) => r.offset)).toEqual(list.map((_, i) => i));
      for (const record of list) {
        expect(record.topic).toBe('bids');
        expect(record.partition).toBe(partition);
        expect(partitionForKey(text(record.key)!, 4)).toBe(partition);
      }
    });
  });

  it('keeps the send order within a partition', () => {
    const log = produceToTopic(records(300), { topic: 'bids', partitions: 3 });
    for (const list of log.partitions) {
      const seqs = list.map((r) => JSON.parse(text(r.value)!).seq as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it('encodes records as Lambda delivers them: base64 key and value, CREATE_TIME, headers as bytes', () => {
    const log = produceToTopic(
      [
        { key: '1001', value: '{"auction":1001}', timestamp: 1_700_000_000_040 },
        { key: '1001', value: 'x', timestamp: 5, headers: { source: 'nexmark', raw: Uint8Array.of(0, 255) } },
      ],
      { topic: 'bids', partitions: 1 },
    );
    const [first, second] = log.partitions[0]!;

    expect(first).toEqual({
      topic: 'bids',
      partition: 0,
      offset: 0,
      timestamp: 1_700_000_000_040,
      timestampType: 'CREATE_TIME',
      key: 'MTAwMQ==',
      value: Buffer.from('{"auction":1001}').toString('base64'),
      headers: [],
    });
    expect(second!.headers).toEqual([{ source: [...Buffer.from('nexmark')] }, { raw: [0, 255] }]);
  });

  it('encodes byte keys and values as they are, and a tombstone as a null value', () => {
    const log = produceToTopic(
      [
        { key: Uint8Array.of(1, 2, 3), value: Uint8Array.of(0xde, 0xad, 0xbe, 0xef), timestamp: 0 },
        { key: 'gone', value: null, timestamp: 0 },
      ],
      { topic: 't', partitions: 1 },
    );
    const [bytes, tombstone] = log.partitions[0]!;

    expect(Buffer.from(bytes!.key!, 'base64')).toEqual(Buffer.from([1, 2, 3]));
    expect(Buffer.from(bytes!.value!, 'base64')).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    expect(tombstone!.value).toBeNull();
  });

  it('spreads records without a key round-robin and delivers them without a key field', () => {
    const log = produceToTopic(
      Array.from({ length: 7 }, (_, i) => ({ value: String(i), timestamp: i })),
      { topic: 't', partitions: 3 },
    );

    expect(log.partitions.map((list) => list.map((r) => text(r.value)))).toEqual([
      ['0', '3', '6'],
      ['1', '4'],
      ['2', '5'],
    ]);
    expect(log.partitions[0]![0]).not.toHaveProperty('key');
  });

  it('sends a record with an explicit partition there, and refuses a partition the topic lacks', () => {
    const log = produceToTopic([{ key: '1001', value: 'v', timestamp: 0, partition: 2 }], {
      topic: 't',
      partitions: 3,
    });
    expect(log.partitions[2]).toHaveLength(1);

    expect(() =>
      produceToTopic([{ value: 'v', timestamp: 0, partition: 3 }], { topic: 't', partitions: 3 }),
    ).toThrow('Record partition 3 does not exist: topic t has partitions 0 to 2.');
  });
  it.each([0, 1.5])('refuses a topic of %s partitions', (partitions) => {
    expect(() => produceToTopic([], { topic: 't', partitions })).toThrow(
      `partitions must be a whole number of at least 1, got ${partitions}.`,
    );
  });
});

describe('kafkaEvent', () => {
  const log = produceToTopic(records(6), { topic: 'bids', partitions: 2 });
  const all = [...log.partitions[0]!, ...log.partitions[1]!];

  it('builds an MSK event shaped like the recorded one', () => {
    const recorded = fixture('msk-bids.json');
    const built = kafkaEvent(all);

    expect(Object.keys(built).sort()).toEqual(Object.keys(recorded).sort());
    expect(built.eventSource).toBe('aws:kafka');
    const recordedRecord = Object.values(recorded.records)[0]![0]!;
    expect(Object.keys(built.records['bids-0']![0]!).sort()).toEqual(Object.keys(recordedRecord).sort());
    expect(Object.keys(built.records)).toEqual(['bids-0', 'bids-1']);
  });

  it('builds a self-managed Kafka event shaped like the recorded one, without a cluster ARN', () => {
    const recorded = fixture('self-managed-bids.json');
    const built = kafkaEvent(all, { type: 'self-managed', bootstrapServers: 'k1:9092,k2:9092' });

    expect(Object.keys(built).sort()).toEqual(Object.keys(recorded).sort());
    expect(built).toMatchObject({ eventSource: 'SelfManagedKafka', bootstrapServers: 'k1:9092,k2:9092' });
    expect(built).not.toHaveProperty('eventSourceArn');
  });

  it('refuses a partition whose records are not in offset order', () => {
    const [a, b] = log.partitions[0]!;
    expect(() => kafkaEvent([b!, a!])).toThrow(/Records of bids-0 must be in increasing offset order/);
  });
});

describe('eventBatches', () => {
  const log = produceToTopic(records(1_000), { topic: 'bids', partitions: 7 });

  it.each([
    [1, 'round-robin'],
    [7, 'round-robin'],
    [100, 'sequential'],
    [1_000, 'round-robin'],
    [7, { seed: 3 }],
    [100, { seed: 11 }],
  ] as const)(
    'delivers every record once, in offset order per partition (batch size %i, %j)',
    (batchSize, interleave) => {
      const events = [...eventBatches(log, { batchSize, interleave })];

      const seen = delivered(events);
      expect(seen).toHaveLength(1_000);
      for (let p = 0; p < 7; p++) {
        expect(seen.filter((r) => r.partition === p)).toEqual(log.partitions[p]);
      }
      for (const event of events) {
        const count = Object.values(event.records).flat().length;
        expect(count).toBeGreaterThan(0);
        expect(count).toBeLessThanOrEqual(batchSize);
      }
      // Every event but the last is full: the ESM fills a batch when records are waiting.
      for (const event of events.slice(0, -1))
        expect(Object.values(event.records).flat()).toHaveLength(batchSize);
    },
  );

  it('mixes partitions in one event with round-robin, and fills from one partition at a time with sequential', () => {
    const mixed = [...eventBatches(log, { batchSize: 100, interleave: 'round-robin' })];
    expect(partitionsOf(mixed[0]!)).toEqual([0, 1, 2, 3, 4, 5, 6]);

    const sequential = [...eventBatches(log, { batchSize: 100, interleave: 'sequential' })];
    expect(partitionsOf(sequential[0]!)).toEqual([0]);
    expect(delivered(sequential)).toEqual(log.partitions.flat());
  });

  it('interleaves partitions reproducibly for a seed, and differently for another seed', () => {
    const cut = (seed: number) =>
      [...eventBatches(log, { batchSize: 50, interleave: { seed } })].map((event) =>
        Object.entries(event.records).map(([id, group]) => [id, group.length]),
      );

    expect(cut(5)).toEqual(cut(5));
    expect(cut(5)).not.toEqual(cut(6));
  });

  it('defaults to the event source mapping batch size of 100 and to MSK events', () => {
    const events = [...eventBatches(log)];
    expect(events).toHaveLength(10);
    expect(events[0]!.eventSource).toBe('aws:kafka');
    expect(payloadBytes(events[0]!)).toBeLessThan(LAMBDA_PAYLOAD_LIMIT_BYTES);
  });

  it('builds self-managed Kafka events when asked', () => {
    const [event] = eventBatches(log, { source: { type: 'self-managed' } });
    expect(event!.eventSource).toBe('SelfManagedKafka');
  });

  it.each([700, 1_000, 1_500, 2_500])(
    'fills an event up to a payload cap of %i bytes, counting every byte of its JSON',
    (cap) => {
      const small = produceToTopic(records(60, 5), { topic: 'bids', partitions: 3 });
      const events = [
        ...eventBatches(small, { batchSize: 1_000, maxPayloadBytes: cap, interleave: { seed: 2 } }),
      ];

      for (const [i, event] of events.entries()) {
        expect(payloadBytes(event)).toBeLessThanOrEqual(cap);
        const next = events[i + 1] && delivered([events[i + 1]!])[0];
        // The record that opens the next event would not have fitted in this one.
        if (next) expect(payloadBytes(kafkaEvent([...delivered([event]), next]))).toBeGreaterThan(cap);
      }
      expect(delivered(events)).toHaveLength(60);
    },
  );

  it('keeps every event under a payload cap while delivering every record', () => {
    const big = produceToTopic(
      records(300).map((r, i) => ({ ...r, value: `${r.value as string}${'x'.repeat((i * 37) % 2_000)}` })),
      { topic: 'bids', partitions: 4 },
    );
    const cap = 40_000;
    const events = [
      ...eventBatches(big, { batchSize: 1_000, maxPayloadBytes: cap, interleave: { seed: 1 } }),
    ];

    expect(events.length).toBeGreaterThan(1);
    for (const event of events) expect(payloadBytes(event)).toBeLessThanOrEqual(cap);
    const seen = delivered(events);
    for (let p = 0; p < 4; p++) expect(seen.filter((r) => r.partition === p)).toEqual(big.partitions[p]);
  });

  it('refuses a record that cannot fit in any event, naming it', () => {
    const huge: TopicLog = produceToTopic([{ key: 'k', value: 'x'.repeat(2_000), timestamp: 0 }], {
      topic: 'bids',
      partitions: 1,
    });
    expect(() => [...eventBatches(huge, { maxPayloadBytes: 1_000 })]).toThrow(
      /Record bids-0 offset 0 needs \d+ bytes in an event, over the payload limit of 1000 bytes/,
    );
  });

  it("with oversized: 'alone', delivers a record that fits no event in an event of its own, in offset order", () => {
    const values = ['a', 'x'.repeat(2_000), 'b', 'c'];
    const mixed = produceToTopic(
      values.map((value) => ({ value, timestamp: 0, partition: 0 })),
      { topic: 'bids', partitions: 1 },
    );
    const events = [...eventBatches(mixed, { maxPayloadBytes: 1_000, batchSize: 10, oversized: 'alone' })];
    expect(events.map((e) => e.records['bids-0']!.map((r) => r.offset))).toEqual([[0], [1], [2, 3]]);
  });

  it.each([0, 10_001, 2.5])('refuses batch size %s when the batches are asked for', (batchSize) => {
    expect(() => eventBatches(log, { batchSize })).toThrow(
      /batchSize must be a whole number from 1 to 10000/,
    );
  });

  it('delivers nothing for an empty topic', () => {
    expect([...eventBatches(produceToTopic([], { topic: 't', partitions: 3 }))]).toEqual([]);
  });
});

describe('recordBytes', () => {
  const base: KafkaEventRecord = {
    topic: 'bids',
    partition: 3,
    offset: 12_345,
    timestamp: 1_700_000_000_000,
    timestampType: 'CREATE_TIME',
    key: 'YXVjdGlvbi0x',
    value: Buffer.from('{"auction":1,"price":12.5}').toString('base64'),
    headers: [],
  };
  const json = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

  it.each<[string, KafkaEventRecord]>([
    ['a plain record', base],
    ['no key', { ...base, key: undefined }],
    ['a null key and a tombstone', { ...base, key: null, value: null }],
    ['an empty key', { ...base, key: '' }],
    ['headers', { ...base, headers: [{ source: [104, 105] }, { trace: [] }] }],
    ['a topic with escapes and non-ASCII', { ...base, topic: 'bïds "q" \\ \n \u0001 😀' }],
    ['schema metadata', { ...base, valueSchemaMetadata: { dataFormat: 'AVRO', schemaId: 'é1' } }],
    ['odd numbers', { ...base, offset: -0, timestamp: 1e21, partition: Number.NaN }],
    ['no headers field', { topic: 't', partition: 0, offset: 0, timestamp: 0, value: 'AA==' }],
  ])('measures %s as JSON.stringify does', (_, record) => {
    expect(recordBytes(record)).toBe(json(record));
  });

  it('agrees with JSON.stringify on every record of the fixtures', () => {
    for (const name of ['msk-bids.json']) {
      for (const records of Object.values(fixture(name).records)) {
        for (const record of records) expect(recordBytes(record)).toBe(json(record));
      }
    }
  });
});
