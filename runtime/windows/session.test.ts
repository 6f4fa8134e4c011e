import { describe, expect, it } from 'vitest';
import { FloeConfigError } from '../errors.ts';
import { EventTimeSessionWindows } from './session.ts';

describe('EventTimeSessionWindows', () => {
  it('gives every record the static gap', () => {
    const sessions = EventTimeSessionWindows.withGap<{ user: string }>(10_000);
    expect(sessions.merging).toBe(true);
    expect(sessions.sessionGap({ user: 'a' })).toBe(10_000);
  });

  it('reads a dynamic gap from each record', () => {
    const sessions = EventTimeSessionWindows.withDynamicGap<{ gap: number }>((e) => e.gap);
    expect(sessions.sessionGap({ gap: 7 })).toBe(7);
    expect(sessions.sessionGap({ gap: 0 })).toBe(0); // judged per record by the engine: a dead letter
  });

  it('names its gap', () => {
    expect(String(EventTimeSessionWindows.withGap(10_000))).toBe('EventTimeSessionWindows(10000)');
    expect(String(EventTimeSessionWindows.withDynamicGap(() => 1))).toBe(
      'EventTimeSessionWindows(dynamic gap)',
    );
  });

  it.each([0, -1, 0.5, Number.NaN])('rejects a static gap of %d', (gap) => {
    expect(() => EventTimeSessionWindows.withGap(gap)).toThrow(FloeConfigError);
    expect(() => EventTimeSessionWindows.withGap(gap)).toThrow(
      `EventTimeSessionWindows gap must be a positive whole number of milliseconds, got ${gap}.`,
    );
  });
});
