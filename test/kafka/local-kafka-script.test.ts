/**
 * scripts/local-kafka's cluster ids: an id that starts with '-' makes Kafka's format command read
 * it as an option, and the broker's start fails (it did, once in about 64 starts, in CI).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'local-kafka');

describe('scripts/local-kafka', () => {
  it('makes KRaft cluster ids of 22 URL-safe base64 characters that never start with "-"', () => {
    const ids = execFileSync(
      'bash',
      [
        '-c',
        `source <(sed -n '/^cluster_id()/,/^}/p' "$0"); for i in $(seq 1 640); do cluster_id; echo; done`,
        SCRIPT,
      ],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n');
    expect(ids).toHaveLength(640);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});
