import { isUtf8 } from 'node:buffer';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBids } from '../examples/nexmark/generator.ts';
import { decodeSegmentRecords, encodeSegment } from '../runtime/checkpoint/log-segment-codec.ts';
import { payloadBytes } from '../runtime/event-source-mapping/event-builder.ts';
import { partitionForKey } from '../runtime/event-source-mapping/partitioner.ts';
import {
  type KafkaEventRecord,
  LAMBDA_PAYLOAD_LIMIT_BYTES,
  type TextValueRecord,
  VALUE_TEXT,
} from '../runtime/source/kafka-event.ts';
import {
  countRecords,
  jsonLinesTopic,
  RecordMaker,
  readerWaiting,
  readRunEvents,
  startReaderEarly,
  topicNameOf,
} from './jsonl-topic.ts';

const MTIME = 1_700_000_000_000;
/** Events as Lambda delivers them: JSON, every record's base64 value written out. */
const asDelivered = <T>(events: T): T => JSON.parse(JSON.stringify(events)) as T;
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

describe('RecordMaker', () => {
  it('counts the bytes of each record as JSON.stringify writes it', () => {
    const maker = new RecordMaker({
      topic: 'my.topic-1',
      partitions: 12,
      key: 'k',
      timestamp: 't',
      defaultTimestamp: MTIME,
    });
    const lines = [
      '{"k":1,"t":5}',
      '{"k":"é","t":"2023-11-14T22:13:20.500Z"}',
      '{"t":-1234}',
      'not json',
      `{"k":${'9'.repeat(30)},"t":1e21}`,
      `{"k":"${'x'.repeat(999)}"}`,
    ];
    for (let i = 0; i < 2_000; i++) {
      const line = Buffer.from(lines[i % lines.length]!);
      expect(maker.make(line, 0, line.length)).toBe(true);
      expect(maker.bytes).toBe(Buffer.byteLength(JSON.stringify(maker.record())));
    }
  });
});

describe('EventCutter and readRunEvents', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'floe-jsonl-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const topic = { topic: 'bids', partitions: 3, key: 'auction', defaultTimestamp: MTIME };
  const bids = generateBids({ seed: 3, count: 3_000, auctions: 50 });
  const path = join(scratch, 'bids.jsonl');
  // A record too big for any event, a blank line and a line without the key among them.
  const big = JSON.stringify({ auction: 7, extra: 'x'.repeat(5 * 1024 * 1024) });
  writeFileSync(
    path,
    `${bids.map((b, i) => (i === 1_000 ? `${big}\n\n{"no":"key"}\n` : '') + JSON.stringify(b)).join('\n')}\n`,
  );
  const read = async (cut: Parameters<typeof readRunEvents>[2], worker = false) => {
    const stats = { records: 0, withoutKey: 0, bytesRead: 0 };
    const events = [];
    for await (const e of readRunEvents(path, topic, cut, stats, { worker })) {
      const event = e.event();
      // Each partition's last offset, as the event has it.
      expect(e.lasts).toEqual(Object.entries(event.records).map(([id, list]) => [id, list.at(-1)!.offset]));
      events.push({ event, partition: e.partition, records: e.records });
    }
    return { events, stats };
  };
  const topicLog = async () => jsonLinesTopic(await readFile(path), topic).log;

  it.each<[string, { by: 'partition' | 'file'; batchSize?: number; maxPayloadBytes?: number }]>([
    ['one partition an event, at 6 MB', { by: 'partition' }],
    ['one partition an event, at 100 records', { by: 'partition', batchSize: 100 }],
    ['in file order, at 250 records', { by: 'file', batchSize: 250 }],
    ['in file order, at 300 KB', { by: 'file', maxPayloadBytes: 300_000 }],
  ])(
    'delivers every record once, in offset order per partition, within the limits: %s',
    async (_name, cut) => {
      const { events, stats } = await read(cut);
      expect(stats).toMatchObject({ records: 3_002, withoutKey: 1 });
      const log = await topicLog();
      const seen: KafkaEventRecord[][] = log.partitions.map(() => []);
      for (const { event, partition, records } of events) {
        const lists = Object.entries(event.records);
        expect(records).toBe(lists.reduce((n, [, l]) => n + l.length, 0));
        if (cut.by === 'partition') {
          expect(lists).toHaveLength(1);
          expect(lists[0]![0]).toBe(`bids-${partition}`);
        } else expect(partition).toBe(-1);
        const alone =
          records === 1 && payloadBytes(event) > (cut.maxPayloadBytes ?? LAMBDA_PAYLOAD_LIMIT_BYTES);
        if (!alone)
          expect(payloadBytes(event)).toBeLessThanOrEqual(cut.maxPayloadBytes ?? LAMBDA_PAYLOAD_LIMIT_BYTES);
        expect(records).toBeLessThanOrEqual(cut.batchSize ?? Number.POSITIVE_INFINITY);
        for (const [id, list] of lists) seen[Number(id.slice('bids-'.length))]!.push(...list);
      }
      // The topic jsonLinesTopic reads, record for record.
      expect(seen).toEqual(log.partitions);
      // The oversized record came alone.
      expect(
        events.filter((e) => e.records === 1 && payloadBytes(e.event) > LAMBDA_PAYLOAD_LIMIT_BYTES),
      ).toHaveLength(1);
    },
  );

  it('cuts the largest waiting partition early past maxPendingBytes, with the same records', async () => {
    const { events } = await read({ by: 'partition', maxPendingBytes: 100_000 });
    const { events: unbounded } = await read({ by: 'partition' });
    expect(events.length).toBeGreaterThan(unbounded.length);
    const records = (es: typeof events) => es.flatMap((e) => Object.values(e.event.records).flat());
    expect(records(events).length).toBe(records(unbounded).length);
  });

  it('gives the same events read in a worker thread', async () => {
    for (const cut of [{ by: 'partition' as const, batchSize: 700 }, { by: 'file' as const }]) {
      const here = await read(cut);
      const there = await read(cut, true);
      expect(there.stats).toEqual(here.stats);
      // As Lambda would deliver them: the worker's records make their base64 when asked.
      expect(asDelivered(there.events)).toEqual(here.events);
    }
  });

  it('gives the same events from a reader thread started before it knew what to read', async () => {
    // As `floe run` starts it, while the job loads.
    startReaderEarly();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readerWaiting()).toBe(true);
    const cut = { by: 'file' as const, batchSize: 500 };
    const there = await read(cut, true);
    expect(readerWaiting()).toBe(false); // the read took it
    const here = await read(cut);
    expect(there.stats).toEqual(here.stats);
    expect(asDelivered(there.events)).toEqual(here.events);
  });

  it('gives records read in a worker thread their value as text too, when it is UTF-8', async () => {
    const lines = ['{"auction":1,"v":"plain"}', '{"auction":2,"v":"Zürich 🚀"}'];
    const notUtf8 = Buffer.from([...Buffer.from('{"auction":3,"v":"'), 0xff, 0xfe, ...Buffer.from('"}')]);
    const mixed = join(scratch, 'mixed.jsonl');
    writeFileSync(mixed, Buffer.concat([Buffer.from(`${lines.join('\n')}\n`), notUtf8, Buffer.from('\n')]));
    const asciiOnly = join(scratch, 'ascii.jsonl');
    writeFileSync(asciiOnly, `${lines[0]}\n{"auction":4}\n`);
    for (const file of [mixed, asciiOnly]) {
      const stats = { records: 0, withoutKey: 0, bytesRead: 0 };
      const records: TextValueRecord[] = [];
      for await (const e of readRunEvents(file, { ...topic, partitions: 1 }, { by: 'file' }, stats, {
        worker: true,
      }))
        records.push(...Object.values(e.event().records).flat());
      expect(records.length).toBe(file === mixed ? 3 : 2);
      for (const record of records) {
        const bytes = Buffer.from(record.value!, 'base64');
        const utf8 = isUtf8(bytes);
        // The text, where there is one, is the value's bytes decoded; bytes that are not UTF-8 have none.
        expect(record[VALUE_TEXT]).toBe(utf8 ? bytes.toString('utf8') : undefined);
        expect(utf8).toBe(!bytes.equals(notUtf8));
      }
    }
  });

  it('gives records read in a worker thread that a partition log keeps as it keeps Lambda records', async () => {
    const stats = { records: 0, withoutKey: 0, bytesRead: 0 };
    const cut = { by: 'partition' as const, batchSize: 200 };
    for await (const e of readRunEvents(path, topic, cut, stats, { worker: true })) {
      const records = Object.values(e.event().records).flat();
      const delivered = asDelivered(records);
      const segment = encodeSegment(records);
      // The same bytes as for the records Lambda would deliver: no field of the reader's own.
      expect(Buffer.from(segment).equals(Buffer.from(encodeSegment(delivered)))).toBe(true);
      expect(asDelivered(decodeSegmentRecords(segment, 'test'))).toEqual(delivered);
      break;
    }
  });

  it('reads a topic of many partitions in a worker thread as in this one, under a small waiting budget', async () => {
    const wide = { ...topic, partitions: 500 };
    const cut = { by: 'partition' as const, maxPendingBytes: 200_000 };
    const collect = async (worker: boolean) => {
      const events = [];
      const stats = { records: 0, withoutKey: 0, bytesRead: 0 };
      for await (const e of readRunEvents(path, wide, cut, stats, { worker })) events.push(e.event());
      return events;
    };
    const here = await collect(false);
    expect(here.length).toBeGreaterThan(50);
    expect(asDelivered(await collect(true))).toEqual(here);
  });

  it('counts the records a stopped read left', async () => {
    const stats = { records: 0, withoutKey: 0, bytesRead: 0 };
    for await (const _ of readRunEvents(path, topic, { by: 'partition', batchSize: 10 }, stats)) break;
    expect(stats.records + (await countRecords(path, stats.bytesRead))).toBe(3_002);
  });
});
