/**
 * Runs one example over one event in a fresh process and prints the peak RSS, so that each
 * figure is measured alone. The event is read from a JSON file, as the Lambda runtime receives
 * it. Used by run.ts: `node --conditions=floe-source --import tsx bench/peak-rss.ts <example> <event.json>`.
 */
import { readFileSync } from 'node:fs';
import { EXAMPLE_JOBS, type ExampleName } from '../examples/index.ts';
import { Engine } from '../runtime/engine/engine.ts';
import { newEngineState } from '../runtime/engine/state.ts';
import type { KafkaEvent } from '../runtime/source/kafka-event.ts';

const [name, eventPath] = process.argv.slice(2) as [ExampleName, string];
const job = EXAMPLE_JOBS[name];
if (!job || !eventPath) {
  process.stderr.write(`usage: peak-rss.ts <${Object.keys(EXAMPLE_JOBS).join('|')}> <event.json>\n`);
  process.exit(2);
}
const engine = new Engine<unknown>(job);
const event = JSON.parse(readFileSync(eventPath, 'utf8')) as KafkaEvent;
const baselineMb = process.resourceUsage().maxRSS / 1024;
const state = newEngineState();
const rows = engine.processBatch(state, event, { now: 0 }).rows.length + engine.drain(state, 0).rows.length;
const peakMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify({ baselineMb, peakMb, rows })}\n`);
