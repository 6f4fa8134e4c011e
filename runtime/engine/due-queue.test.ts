import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../seeded-random.ts';
import { DueQueue } from './due-queue.ts';

describe('DueQueue', () => {
  it('pops exactly the entries that are due, earliest first, whatever the push order', () => {
    const random = mulberry32(3);
    const queue = new DueQueue<number>();
    const pushed: number[] = [];
    for (let i = 0; i < 500; i++) {
      const time = Math.floor(random() * 1000) - 500;
      queue.push(time, i);
      pushed.push(time);
    }
    const popped: number[] = [];
    queue.popDue(0, (_item, time) => popped.push(time));
    expect(popped).toEqual(pushed.filter((t) => t <= 0).sort((a, b) => a - b));
    expect(queue.size).toBe(pushed.filter((t) => t > 0).length);
    const rest: number[] = [];
    queue.popDue(Number.POSITIVE_INFINITY, (_item, time) => rest.push(time));
    expect(rest).toEqual(pushed.filter((t) => t > 0).sort((a, b) => a - b));
  });
});
