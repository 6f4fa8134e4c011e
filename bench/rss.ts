/**
 * The RSS figure: peak RSS of a fresh process that takes one Lambda-sized Kafka event (10,000
 * records, the event source mapping's most, about 6 MB of event JSON) holding 100,000 distinct keys
 * through the job's Lambda handler (CheckpointedProcessor, local stores): decode, window state of
 * 100,000 keys, the watermark passing them so that all but the last record's fire in the same
 * batch, Parquet, state and manifest written, the head committed, the table published.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventRecord, kafkaEvent, payloadBytes } from '../runtime/event-source-mapping/event-builder.ts';
import { LAMBDA_PAYLOAD_LIMIT_BYTES } from '../runtime/source/kafka-event.ts';
import { KEYS_PER_RECORD, type KeyBundle } from './rss-job.ts';

export interface RssResult {
  readonly keys: number;
  readonly batchMb: number;
  readonly peakRssMb: number;
  /** RSS once the event is parsed, before the handler runs. */
  readonly baselineMb: number;
  readonly records: number;
  readonly rows: number;
}

const RECORDS = 10_000;

/** The event: record i at i ms carries keys 10i to 10i + 9; the last one, at 20 s, fires the rest. */
export function rssEvent(records = RECORDS, maxBytes = LAMBDA_PAYLOAD_LIMIT_BYTES) {
  const build = (pad: number) =>
    kafkaEvent(
      Array.from({ length: records }, (_, i) => {
        const bundle: KeyBundle = {
          t: i === records - 1 ? 20_000 : i,
          keys: Array.from({ length: KEYS_PER_RECORD }, (_, k) => 1_000_000 + i * KEYS_PER_RECORD + k),
          pad: 'x'.repeat(pad),
        };
        return eventRecord('keys', 0, i, { value: JSON.stringify(bundle), timestamp: bundle.t });
      }),
    );
  // Padding that brings the event just under the payload limit (base64: 4 bytes per 3).
  const bare = payloadBytes(build(0));
  const pad = Math.max(0, Math.floor((((maxBytes - bare) / records) * 3) / 4) - 2);
  return build(pad);
}

export function measureRss(): RssResult {
  const scratch = mkdtempSync(join(tmpdir(), 'floe-bench-rss-'));
  try {
    const event = rssEvent();
    const path = join(scratch, 'event.json');
    writeFileSync(path, JSON.stringify(event));
    const out = execFileSync(
      process.execPath,
      [
        '--conditions=floe-source',
        '--import',
        'tsx',
        join(import.meta.dirname, 'rss-child.ts'),
        path,
        join(scratch, 'run'),
      ],
      { encoding: 'utf8' },
    );
    const child = JSON.parse(out) as { baselineMb: number; peakMb: number; rows: number; records: number };
    return {
      keys: RECORDS * KEYS_PER_RECORD,
      batchMb: Math.round((payloadBytes(event) / 1024 / 1024) * 100) / 100,
      peakRssMb: Math.round(child.peakMb),
      baselineMb: Math.round(child.baselineMb),
      records: child.records,
      rows: child.rows,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
