import { describe, expect, it } from 'vitest';
import { StatusLine } from './progress.ts';

function terminal(isTTY: boolean, columns = 40) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (text: string) => writes.push(text) > 0 } };
}

describe('StatusLine', () => {
  it('rewrites one line at most ten times a second, cut to the terminal width, and clears it', () => {
    const { writes, stream } = terminal(true);
    let now = 0;
    const line = new StatusLine(stream, () => now);

    line.update(() => 'first');
    now = 50;
    line.update(() => 'too soon');
    now = 100;
    line.update(() => 'x'.repeat(100));
    now = 101;
    line.update(() => 'forced', true);
    line.clear();

    expect(writes).toEqual(['\rfirst\x1b[K', `\r${'x'.repeat(38)}…\x1b[K`, '\rforced\x1b[K', '\r\x1b[K']);
  });

  it('writes nothing when the stream is not a terminal', () => {
    const { writes, stream } = terminal(false);
    const line = new StatusLine(stream);
    line.update(() => 'hidden', true);
    line.clear();
    expect(writes).toEqual([]);
  });
});
