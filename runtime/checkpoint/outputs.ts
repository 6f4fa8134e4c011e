/**
 * A batch's outputs as checked column vectors, one per table that has rows: the job's rows, its
 * late records and its dead letters. Every value is checked against its column before anything is
 * staged, so a row that does not fit its table is the job's mistake (RowTypeError, naming where
 * the row came from), never a reason to retry.
 */
import type { BatchResult } from '../engine/batch-result.ts';
import { type BatchRange, type RowSource, RowTypeError } from '../errors.ts';
import { type PreparedRows, prepareRows } from '../iceberg/data-file.ts';
import { InvalidColumnValueError } from '../parquet/column-vectors.ts';
import type { Columns, RowOf, Table } from '../sink/table.ts';
import type { KafkaEventRecord } from '../source/kafka-event.ts';
import type { TablePublish } from './manifest.ts';
import { deadLetterRow, lateRow } from './side-outputs.ts';

/** The three tables a job writes. */
export interface JobTables {
  readonly rows: Table<Columns>;
  readonly late: Table<Columns>;
  readonly deadLetters: Table<Columns>;
}

/** A batch's records per partition, or the end of a bounded input. */
export type BatchInputOrDrain = (readonly KafkaEventRecord[])[] | 'drain';

/**
 * The batch's rows, late records and dead letters as checked column vectors, per table that has
 * any. A value that does not fit its column throws RowTypeError, naming where its row came from.
 */
export function prepareOutputs<Row>(
  jobName: string,
  tables: JobTables,
  result: BatchResult<Row>,
  input: BatchInputOrDrain,
): { output: TablePublish['output']; prepared: PreparedRows; rows: number }[] {
  const outputs: {
    table: Table<Columns>;
    output: TablePublish['output'];
    rows: readonly RowOf<Columns>[];
    source: (index: number) => RowSource;
  }[] = [
    {
      table: tables.rows,
      output: 'rows',
      rows: result.rows.map((r) => r.row as RowOf<Columns>),
      source: (index) => {
        const { key, window } = result.rows[index]!;
        return {
          kind: 'window',
          key: key === undefined ? undefined : truncate(keyText(key)),
          windowStart: window.start,
          windowEnd: window.end,
          batch: input === 'drain' ? [] : batchRanges(input),
        };
      },
    },
    {
      table: tables.late,
      output: 'late',
      rows: result.late.map(lateRow) as RowOf<Columns>[],
      source: (index) => {
        const { topic, partition, offset } = result.late[index]!;
        return { kind: 'record', topic, partition, offset };
      },
    },
    {
      table: tables.deadLetters,
      output: 'dead-letters',
      rows: result.deadLetters.map(deadLetterRow) as RowOf<Columns>[],
      source: (index) => {
        const dead = result.deadLetters[index]!;
        return dead.kind === 'record'
          ? { kind: 'record', topic: dead.topic, partition: dead.partition, offset: dead.offset }
          : {
              kind: 'window',
              key: dead.key === undefined ? undefined : truncate(keyText(dead.key)),
              windowStart: dead.window.start,
              windowEnd: dead.window.end,
              batch: input === 'drain' ? [] : batchRanges(input),
            };
      },
    },
  ];
  return outputs
    .filter((o) => o.rows.length > 0)
    .map((o) => {
      try {
        return { output: o.output, prepared: prepareRows(o.table, o.rows), rows: o.rows.length };
      } catch (error) {
        if (!(error instanceof InvalidColumnValueError)) throw error;
        throw new RowTypeError(
          jobName,
          error.table,
          error.column,
          error.columnType,
          error.value,
          error.problem,
          o.source(error.row),
        );
      }
    });
}

/** The first and last offset of each partition's records in a batch. */
export function batchRanges(input: readonly (readonly KafkaEventRecord[])[]): BatchRange[] {
  return input.flatMap((records) => {
    const first = records[0];
    const last = records[records.length - 1];
    return first === undefined || last === undefined
      ? []
      : [
          {
            topic: first.topic,
            partition: first.partition,
            firstOffset: first.offset,
            lastOffset: last.offset,
          },
        ];
  });
}

function keyText(key: string | number | bigint | boolean): string {
  return typeof key === 'bigint' ? `${key}n` : JSON.stringify(key);
}

function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
