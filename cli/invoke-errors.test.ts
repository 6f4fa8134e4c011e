import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import bidsPerAuction from '../examples/bids-per-auction.ts';
import { createHandler } from '../functions/handler.ts';
import type { RecordDeadLetter } from '../runtime/engine/batch-result.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import { floe } from '../test/support/floe-cli.ts';

const EVENT = join(import.meta.dirname, '..', 'examples', 'events', 'msk-bids.json');
const JOB = join(import.meta.dirname, '..', 'examples', 'bids-per-auction.ts');

/** The sample event with the value of bids-0's first record replaced by plain JSON text. */
function eventWithPlainJson(): KafkaEvent {
  const event = JSON.parse(readFileSync(EVENT, 'utf8')) as KafkaEvent;
  const records = event.records['bids-0']!;
  (records as unknown as { value: string }[])[0]!.value = '{"auction":1001,"price":120}';
  return event;
}

describe('a value that is not base64', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'floe-invoke-errors-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is a one-line error naming the record in floe invoke, exit 2; the corrected event then runs in the same --dir', async () => {
    const bad = join(dir, 'bad-event.json');
    writeFileSync(bad, JSON.stringify(eventWithPlainJson()));
    const runDir = join(dir, 'run');

    const { code, stdout, stderr } = await floe('invoke', JOB, '--event', bad, '--dir', runDir);

    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      `floe: Event file ${bad}: the record at topic bids, partition 0, offset 41: "value" must be base64, as Lambda sends it (invalid character "{" at position 0); encode it, e.g. printf '%s' '{"auction":1}' | base64`,
    ]);

    const fixed = await floe('invoke', JOB, '--event', EVENT, '--dir', runDir, '--json');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ metrics: { records: 12, deadLetters: 1 } });
  });

  it('is a dead letter saying so in the Lambda handler, which the real event source mapping never sends', async () => {
    const lines: Record<string, unknown>[] = [];
    const handler = createHandler(bidsPerAuction, {
      logger: { log: (_level, message, fields) => lines.push({ message, ...fields }) },
      clock: () => 0,
      stores: localCheckpointStores(dir),
    });

    const outcome = await handler(eventWithPlainJson());

    // The sample's malformed record, and the one that is not base64.
    expect(outcome.deadLetters).toBe(2);
    const dead = lines.filter((l) => l.message === 'dead letter').map((l) => l.record as RecordDeadLetter);
    expect(dead.find((d) => d.offset === 41)).toMatchObject({
      topic: 'bids',
      partition: 0,
      stage: 'decode',
      reason:
        'The value could not be decoded: the value is not base64 (invalid character "{" at position 0); Lambda delivers keys and values base64-encoded.',
    });
  });
});
