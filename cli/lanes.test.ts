import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Lanes } from './lanes.ts';

describe('Lanes', () => {
  it('runs each lane in order, lanes side by side, at most `concurrency` at once, reading at most `maxWaiting` ahead', async () => {
    const started: string[] = [];
    let running = 0;
    let most = 0;
    const lanes = new Lanes<string>(
      async (item) => {
        started.push(item);
        most = Math.max(most, ++running);
        await sleep(item.endsWith('0') ? 5 : 1);
        running--;
      },
      2,
      3,
    );
    let mostWaiting = 0;
    for (let i = 0; i < 30; i++) {
      await lanes.push(i % 3, `${i % 3}:${i}`);
      mostWaiting = Math.max(mostWaiting, (lanes as unknown as { waiting: unknown[] }).waiting.length);
    }
    await lanes.finish();
    expect(started).toHaveLength(30);
    for (const lane of [0, 1, 2]) {
      const order = started.filter((s) => s.startsWith(`${lane}:`)).map((s) => Number(s.split(':')[1]));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(most).toBe(2);
    expect(mostWaiting).toBeLessThan(3);
  });

  it('after a failure starts nothing more, waits for the running items, and throws it', async () => {
    const done: number[] = [];
    const lanes = new Lanes<number>(
      async (item) => {
        if (item === 2) throw new Error('boom');
        await sleep(20);
        done.push(item);
      },
      2,
      10,
    );
    await lanes.push(0, 1);
    await lanes.push(1, 2);
    await sleep(5);
    await expect(lanes.push(2, 3)).rejects.toThrow('boom');
    await expect(lanes.finish()).rejects.toThrow('boom');
    // Item 1 was running: it finished before finish() returned; item 3 never started.
    expect(done).toEqual([1]);
  });
});
