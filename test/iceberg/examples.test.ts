/**
 * End to end through the tables: each example job runs with the commit protocol
 * (CheckpointedProcessor over a local run directory) on generated bids delivered in Lambda-sized
 * batches from 3 partitions, then drains. Every table the run wrote is read back by independent
 * readers, pyiceberg (StaticTable on the catalog's current metadata → scan().to_arrow()) and
 * DuckDB (read_parquet over the data files the manifests list), and must equal the brute-force
 * reference of test/support/nexmark-reference.ts: the job's rows, the dead letter of one
 * malformed record, and, with disorder beyond the bound, the late records.
 *
 * One Python process reads all run directories (test/iceberg/read_run.py). The Python
 * environment is set up by scripts/setup-pyiceberg.sh; if that fails, every test here fails, as
 * in pyiceberg-reader.test.ts: a skipped reader would let a broken table pass.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import { EXAMPLE_JOBS, type ExampleName } from '../../examples/index.ts';
import type { Bid } from '../../examples/nexmark/bid.ts';
import { generateBids } from '../../examples/nexmark/generator.ts';
import { bidRecord, bidTopic } from '../../examples/nexmark/topic.ts';
import { CheckpointedProcessor } from '../../runtime/checkpoint/checkpointed-processor.ts';
import {
  eventBatches,
  produceToTopic,
  type TopicLog,
} from '../../runtime/event-source-mapping/event-builder.ts';
import { icebergSchema } from '../../runtime/iceberg/schema.ts';
import type { Job } from '../../runtime/job/job.ts';
import { removeScratch } from '../support/cleanup.ts';
import { EXAMPLE_REFERENCES, multiset } from '../support/nexmark-reference.ts';
import { PYTHON, ROOT, setUpPyiceberg } from './python-readers.ts';

const READER = join(ROOT, 'test', 'iceberg', 'read_run.py');

const TOPIC = 'bids';
const PARTITIONS = 3;
const BATCH_SIZE = 100;
const EXAMPLES = Object.keys(EXAMPLE_JOBS) as ExampleName[];
/** The tumbling examples: a bid has one window, so it is either counted or late, never both. */
const TUMBLING: readonly ExampleName[] = ['bids-per-auction', 'max-price'];

type ReadRow = Record<string, unknown>;

interface ReadTable {
  metadata_location: string;
  schema: { id: number; name: string; type: string; required: boolean }[];
  snapshots: number;
  files: string[];
  pyiceberg: { rows: ReadRow[] };
  duckdb: { rows: ReadRow[] };
}

/** Run directory → table name → what the readers read. */
type ReadRuns = Record<string, Record<string, ReadTable>>;

function readRuns(dirs: readonly string[]): ReadRuns {
  const result = spawnSync(PYTHON, [READER, ...dirs], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`read_run.py failed (exit ${result.status}):\n${result.stderr}`);
  }
  return JSON.parse(result.stdout) as ReadRuns;
}

/** A row as read, with its timestamps (µs from the readers) as epoch ms. */
function inMillis(table: ReadTable, row: ReadRow): ReadRow {
  const out: ReadRow = { ...row };
  for (const field of table.schema) {
    const value = row[field.name];
    if (field.type !== 'timestamptz' || value === null) continue;
    if (typeof value !== 'number' || value % 1000 !== 0) {
      throw new Error(`${field.name} = ${String(value)} µs is not a whole number of milliseconds`);
    }
    out[field.name] = value / 1000;
  }
  return out;
}

/** The rows each reader read, timestamps as epoch ms. */
function readersOf(table: ReadTable): [reader: string, rows: ReadRow[]][] {
  return [
    ['pyiceberg', table.pyiceberg.rows.map((r) => inMillis(table, r))],
    ['duckdb', table.duckdb.rows.map((r) => inMillis(table, r))],
  ];
}

/** A bid's identity, whatever the order of its fields. */
function bidKey(bid: Bid): string {
  return multiset([{ ...bid }])[0]!;
}

function bids(options: { seed: number; maxDisorderMs?: number }): Bid[] {
  return generateBids({
    count: 2_000,
    skew: 1.1,
    eventsPerSecond: 20,
    auctions: 60,
    bidders: 80,
    channels: 6,
    ...options,
  });
}

/** Runs a job as Lambda would, with the commit protocol, then ends the input. */
async function runJob(job: Job<unknown>, log: TopicLog, dir: string) {
  const processor = new CheckpointedProcessor(job, {
    stores: localCheckpointStores(dir),
    partitions: log.partitions.map((_, partition) => ({ topic: log.topic, partition })),
  });
  for (const event of eventBatches(log, { batchSize: BATCH_SIZE })) await processor.process(event);
  await processor.drain();
  return processor.tableNames;
}

/** The bids, plus one truncated JSON record in the middle (keyed like a bid, so it lands mid-partition). */
const BIDS = bids({ seed: 21 });
const BROKEN = '{"auction":1007,"bidder":1003,"price":';
const BROKEN_AT = BIDS[700]!.dateTime;
const WITH_BROKEN: TopicLog = (() => {
  const records = BIDS.map(bidRecord);
  records.splice(700, 0, { key: '1007', value: BROKEN, timestamp: BROKEN_AT });
  return produceToTopic(records, { topic: TOPIC, partitions: PARTITIONS });
})();
const BROKEN_RECORD = WITH_BROKEN.partitions
  .flat()
  .find((r) => r.value === Buffer.from(BROKEN).toString('base64'))!;

/** Bids with disorder far beyond the 5 s bound, so some arrive after their window fired. */
const DISORDERED = bids({ seed: 12, maxDisorderMs: 20_000 });
const DISORDERED_LOG = bidTopic(DISORDERED, PARTITIONS, TOPIC);

let dir: string;
let read: ReadRuns;
const runs = new Map<string, { dir: string; tables: { rows: string; late: string; deadLetters: string } }>();

beforeAll(async () => {
  setUpPyiceberg();
}, 600_000);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'floe-iceberg-examples-'));
  const planned = [
    ...EXAMPLES.map((name) => ({ key: name, name, log: WITH_BROKEN })),
    ...TUMBLING.map((name) => ({ key: `${name}/late`, name, log: DISORDERED_LOG })),
  ];
  await Promise.all(
    planned.map(async ({ key, name, log }) => {
      const runDir = join(dir, key.replace('/', '-'));
      const tables = await runJob(EXAMPLE_JOBS[name] as Job<unknown>, log, runDir);
      runs.set(key, { dir: runDir, tables });
    }),
  );
  read = readRuns([...runs.values()].map((r) => r.dir));
});

afterAll(async () => {
  await removeScratch(dir);
});

function tablesOf(key: string) {
  const run = runs.get(key)!;
  return { names: run.tables, read: read[run.dir]! };
}

describe.each(EXAMPLES)('%s, run with the commit protocol', (name) => {
  it('writes the reference rows, as pyiceberg and DuckDB read them', () => {
    const { names, read: tables } = tablesOf(name);
    const table = tables[names.rows]!;
    const expected = EXAMPLE_REFERENCES[name](BIDS);

    expect(expected.length).toBeGreaterThan(0);
    expect(table.files.length).toBeGreaterThan(0);
    for (const [reader, rows] of readersOf(table)) {
      expect(multiset(rows), reader).toEqual(multiset(expected));
    }
  });

  it("exposes the job's table schema", () => {
    const { names, read: tables } = tablesOf(name);
    const { columns } = (EXAMPLE_JOBS[name] as Job<unknown>).plan.table;

    expect(tables[names.rows]!.schema).toEqual(
      icebergSchema(columns).fields.map((f) => ({
        id: f.id,
        name: f.name,
        type: f.type,
        required: f.required,
      })),
    );
  });

  it('writes the malformed record to the dead-letter table with its topic, partition, offset and reason, and no late table', () => {
    const { names, read: tables } = tablesOf(name);
    const table = tables[names.deadLetters]!;

    expect(Object.keys(tables).sort()).toEqual([names.rows, names.deadLetters].sort());
    expect(BROKEN_RECORD.offset).toBeGreaterThan(0);
    for (const [reader, rows] of readersOf(table)) {
      expect(rows, reader).toEqual([
        {
          kind: 'record',
          topic: TOPIC,
          partition: BROKEN_RECORD.partition,
          offset: BROKEN_RECORD.offset,
          timestamp: BROKEN_AT,
          stage: 'decode',
          reason: expect.stringMatching(/^The value could not be decoded: .*JSON/),
          key: Buffer.from('1007').toString('base64'),
          value: Buffer.from(BROKEN).toString('base64'),
          window_key: null,
          window_start: null,
          window_end: null,
        },
      ]);
    }
  });
});

describe.each(TUMBLING)('%s, with disorder beyond the bound', (name) => {
  it('writes each late bid to the late table, as it sits in the topic, and the reference rows of all others', () => {
    const { names, read: tables } = tablesOf(`${name}/late`);
    const late = tables[names.late]!;
    const inTopic = new Map(
      DISORDERED_LOG.partitions
        .flat()
        .map((r) => [`${r.partition}/${r.offset}`, JSON.parse(Buffer.from(r.value!, 'base64').toString())]),
    );

    expect(Object.keys(tables).sort()).toEqual([names.rows, names.late].sort());
    const [[, lateRows], [, duckdbLateRows]] = readersOf(late) as [[string, ReadRow[]], [string, ReadRow[]]];
    expect(lateRows.length).toBeGreaterThan(0);
    expect(multiset(duckdbLateRows)).toEqual(multiset(lateRows));
    const lateBids: Bid[] = [];
    for (const row of lateRows) {
      const bid = inTopic.get(`${row.partition}/${row.offset}`) as Bid;
      expect(row).toEqual({
        topic: TOPIC,
        partition: expect.any(Number),
        offset: expect.any(Number),
        timestamp: bid.dateTime,
        watermark: expect.any(Number),
        element: expect.any(String),
      });
      expect(JSON.parse(row.element as string)).toEqual(bid);
      // Late means its window had fired: the window's last millisecond was at or below the watermark.
      expect(Math.floor(bid.dateTime / 10_000) * 10_000 + 10_000 - 1).toBeLessThanOrEqual(
        row.watermark as number,
      );
      lateBids.push(bid);
    }
    // The on-time bids: all bids but the late ones, as multisets.
    const lateCount = new Map<string, number>();
    for (const bid of lateBids) lateCount.set(bidKey(bid), (lateCount.get(bidKey(bid)) ?? 0) + 1);
    const onTime = DISORDERED.filter((bid) => {
      const left = lateCount.get(bidKey(bid)) ?? 0;
      if (left > 0) lateCount.set(bidKey(bid), left - 1);
      return left === 0;
    });
    expect([...lateCount.values()].every((n) => n === 0)).toBe(true);
    expect(onTime.length + lateBids.length).toBe(DISORDERED.length);

    const expected = EXAMPLE_REFERENCES[name](onTime);
    for (const [reader, rows] of readersOf(tables[names.rows]!)) {
      expect(multiset(rows), reader).toEqual(multiset(expected));
    }
  });
});
