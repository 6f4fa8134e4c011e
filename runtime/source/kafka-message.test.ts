import { describe, expect, it } from 'vitest';
import { mskEvent } from '../../test/support/kafka-events.ts';
import { count } from '../aggregates/aggregates.ts';
import { Engine } from '../engine/engine.ts';
import { newEngineState } from '../engine/state.ts';
import { job } from '../job/job-builder.ts';
import { table } from '../sink/table.ts';
import { WatermarkStrategy } from '../time/watermark-strategy.ts';
import { TumblingEventTimeWindows } from '../windows/tumbling.ts';
import type { FormatBase } from './format.ts';
import { json, text } from './formats/index.ts';
import type { KafkaMessage } from './kafka-message.ts';

interface Click {
  page: string;
}

const perUser = table('test.clicks_per_user', { user: 'string', source: 'string', clicks: 'long' });

function clicksPerUser<K>(key: FormatBase<K>) {
  return job('clicks')
    .fromKafkaRecords({ key, value: json<Click>() })
    .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<KafkaMessage<K, Click>>())
    .map((m) => ({
      user: String(m.key),
      source: m.headers.find((h) => h.key === 'source')?.value.toString() ?? '',
    }))
    .keyBy((c) => `${c.user}|${c.source}`)
    .window(TumblingEventTimeWindows.of(1_000))
    .aggregate(count(), (k, _window, clicks) => {
      const [user = '', source = ''] = String(k).split('|');
      return { user, source, clicks };
    })
    .sinkTo(perUser);
}

describe('fromKafkaRecords', () => {
  it('gives the job the decoded key, the headers and the Kafka timestamp of each record', () => {
    const engine = new Engine(clicksPerUser(text()));
    const state = newEngineState();
    const event = mskEvent([
      { offset: 0, timestamp: 10, key: 'alice', value: { page: '/' }, headers: { source: 'web' } },
      { offset: 1, timestamp: 20, key: 'alice', value: { page: '/a' }, headers: { source: 'web' } },
      { offset: 2, timestamp: 30, key: 'bob', value: { page: '/' }, headers: { source: 'app' } },
    ]);
    engine.processBatch(state, event, { now: 0 });
    const rows = engine.drain(state, 0).rows.map((r) => r.row);
    expect(rows).toEqual([
      { user: 'alice', source: 'web', clicks: 2 },
      { user: 'bob', source: 'app', clicks: 1 },
    ]);
  });

  it('turns a key its format cannot decode into a dead letter and processes the rest', () => {
    const engine = new Engine(clicksPerUser(json<string>()));
    const state = newEngineState();
    const result = engine.processBatch(
      state,
      mskEvent([
        { offset: 0, timestamp: 10, key: 'not json', value: { page: '/' } },
        { offset: 1, timestamp: 20, key: '"carol"', value: { page: '/' } },
      ]),
      { now: 0 },
    );
    expect(result.deadLetters).toMatchObject([{ offset: 0, stage: 'decode' }]);
    expect((result.deadLetters[0] as { reason: string }).reason).toMatch(/The key is not valid Json/);
    expect(engine.drain(state, 0).rows.map((r) => r.row)).toEqual([{ user: 'carol', source: '', clicks: 1 }]);
  });
});
