import { describe, expect, it } from 'vitest';
import { floe } from '../test/support/floe-cli.ts';

describe('floe demo (npm start)', () => {
  it('runs every example over generated bids and shows rows for each table, none late or lost', async () => {
    const { code, stdout } = await floe('demo', '--bids', '3000', '--partitions', '3');
    expect(code).toBe(0);
    for (const table of [
      'bids_per_auction',
      'hot_items',
      'bidder_sessions',
      'channel_revenue',
      'max_price',
    ]) {
      expect(stdout).toContain(`-> nexmark.${table}`);
    }
    const summaries = stdout.split('\n').filter((line) => /batches, .* rows, /.test(line));
    expect(summaries).toHaveLength(5);
    for (const line of summaries) {
      expect(line).toMatch(/[1-9][\d,]* rows, 0 late, 0 dead letters/);
    }
  });
});
