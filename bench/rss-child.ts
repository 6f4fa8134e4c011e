/**
 * Runs one Lambda event through the job's handler in a fresh process, as a cold Lambda container
 * does, and prints its peak RSS: `node --conditions=floe-source --import tsx bench/rss-child.ts
 * <event.json> <run dir>` (bench/rss.ts runs it). The event is read from a file and parsed, as the
 * Lambda runtime receives it; the stores are the local ones in the run directory.
 */
import { readFileSync } from 'node:fs';
import { localCheckpointStores } from '../adapters/local/run-directory.ts';
import { createHandler } from '../functions/handler.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';
import job from './rss-job.ts';

const [eventPath, dir] = process.argv.slice(2) as [string, string];
const handler = createHandler(job, {
  stores: localCheckpointStores(dir),
  logger: { log() {} },
  metrics: false,
});
const event = JSON.parse(readFileSync(eventPath, 'utf8')) as KafkaEvent;
const baselineMb = process.resourceUsage().maxRSS / 1024;
const result = await handler(event);
const peakMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(
  `${JSON.stringify({ baselineMb, peakMb, rows: result.rows, records: result.records })}\n`,
);
