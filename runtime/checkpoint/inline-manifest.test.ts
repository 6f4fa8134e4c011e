/**
 * Manifests kept in the head item: a commit that names no data file writes no manifest object
 * (an S3 PUT on AWS), a commit that does, or whose manifest is too large for the head, writes
 * one, and the chain the publish rounds and cleanup walk links only the stored ones.
 */
import { describe, expect, it } from 'vitest';
import { localCheckpointStores } from '../../adapters/local/run-directory.ts';
import {
  processorFor,
  recordingCommits,
  runToEnd,
  tempRunDir,
  workload,
} from '../../test/support/checkpoint-runs.ts';
import { faultyStores } from '../../test/support/faulty-stores.ts';
import { expectReference } from '../../test/support/protocol-scenarios.ts';
import { FloeError } from '../errors.ts';
import { decodeHead } from './head.ts';
import { headKey, manifestPrefix } from './layout.ts';
import {
  type CheckpointManifest,
  decodeInlineManifest,
  encodeInlineManifest,
  zeroCounts,
} from './manifest.ts';

const NAME = 'bids-per-auction';

describe('manifests inline in the head', () => {
  it('a commit without data files keeps its manifest in the head; one with files stores it; rows stay exact', async () => {
    const w = workload({ count: 600, batchSize: 20 });
    const dir = tempRunDir();
    const recorded = recordingCommits(localCheckpointStores(dir), NAME);
    const faulty = faultyStores(recorded.stores);
    await runToEnd(processorFor(NAME, faulty.stores, w, { keepCheckpoints: 10_000 }), w.events);
    let inline = 0;
    let stored = 0;
    for (const { topic, partition } of w.partitions) {
      const group = `${topic}-${partition}`;
      const commits = await recorded.commits(group);
      const listed = new Set(await localCheckpointStores(dir).checkpoints.list(manifestPrefix(NAME, group)));
      let lastStored: string | null = null;
      for (const { manifest, inline: inHead } of commits) {
        const key = manifestKeyOf(manifest);
        // In the head exactly when it names no data file (these manifests are all small).
        expect(inHead, `${group} epoch ${manifest.epoch}`).toBe(manifest.publishes.length === 0);
        expect(listed.has(key)).toBe(!inHead);
        // The chain skips manifests that were only ever in a head.
        expect(manifest.previous).toBe(lastStored);
        if (!inHead) lastStored = key;
        if (inHead) inline++;
        else stored++;
      }
    }
    expect(inline).toBeGreaterThan(stored);
    expect(stored).toBeGreaterThan(0);
    // No manifest object was written for an inline commit: one put per stored manifest.
    const manifestPuts = faulty.log.filter((c) => c.op === 'put' && c.key.includes('/manifests/'));
    expect(manifestPuts).toHaveLength(stored);
    await expectReference(NAME, dir, w.bids);
  });

  it('a manifest larger than maxInlineManifestChars is stored, and the run is still exact', async () => {
    // max-price's one job group lists every partition, so its manifest grows with them (state
    // in objects here: state in the manifest would make every one of them large).
    const w = workload({ count: 480, partitions: 24, batchSize: 10 });
    const dir = tempRunDir();
    const recorded = recordingCommits(localCheckpointStores(dir), 'max-price');
    const max = 600;
    const options = {
      partitionLogs: false,
      keepCheckpoints: 10_000,
      maxInlineManifestChars: max,
      maxInlineStateChars: 0,
    };
    await runToEnd(processorFor('max-price', recorded.stores, w, options), w.events);
    const commits = (await recorded.commits('job')).filter((c) => c.manifest.publishes.length === 0);
    const size = (c: { manifest: CheckpointManifest }) => encodeInlineManifest(c.manifest).length;
    const large = commits.filter((c) => size(c) > max);
    expect(large.length).toBeGreaterThan(0);
    expect(large.length).toBeLessThan(commits.length);
    const listed = new Set(
      await localCheckpointStores(dir).checkpoints.list(manifestPrefix('max-price', 'job')),
    );
    for (const c of commits) {
      expect(c.inline).toBe(size(c) <= max);
      expect(listed.has(manifestKeyOf(c.manifest))).toBe(!c.inline);
    }
    await expectReference('max-price', dir, w.bids);
  });

  it('with maxInlineManifestChars 0 every manifest is an object, as before', async () => {
    const w = workload({ count: 200, batchSize: 20 });
    const dir = tempRunDir();
    const recorded = recordingCommits(localCheckpointStores(dir), NAME);
    await runToEnd(processorFor(NAME, recorded.stores, w, { maxInlineManifestChars: 0 }), w.events);
    const commits = await recorded.commits(`${w.partitions[0]!.topic}-${w.partitions[0]!.partition}`);
    expect(commits.length).toBeGreaterThan(2);
    expect(commits.every((c) => !c.inline)).toBe(true);
    await expectReference(NAME, dir, w.bids);
  });

  it('an inline head is refused by a reader of the earlier head format instead of being misread', async () => {
    const w = workload({ count: 100, batchSize: 20 });
    const stores = localCheckpointStores(tempRunDir());
    const processor = processorFor(NAME, stores, w);
    let raw: { manifest?: unknown } | undefined;
    for (const event of w.events) {
      await processor.process(event);
      const item = await stores.heads.get(
        headKey(NAME, `${w.partitions[0]!.topic}-${w.partitions[0]!.partition}`),
      );
      if (item !== undefined && decodeHead(item).value.inline !== undefined) {
        raw = item.value as { manifest?: unknown };
        break;
      }
    }
    expect(raw).toBeDefined();
    // Before inline manifests a head's `manifest` was a string (or null), and readers checked it:
    // an earlier Floe now refuses this head. Its cleanup, which read the key without that check,
    // fails at the checkpoint store instead of finding no manifest and deleting the head's state.
    expect(typeof raw!.manifest).toBe('object');
    await expect(stores.checkpoints.get(raw!.manifest as string)).rejects.toThrow();
  });

  it('round-trips, and a corrupt one is an error naming the group', () => {
    const manifest: CheckpointManifest = {
      format: 1,
      job: NAME,
      group: 'bids-0',
      lineage: 'l-1',
      epoch: 7,
      attempt: '000000rs2ded83ba',
      createdAt: 1,
      processingTime: 2,
      previous: `${NAME}/bids-0/manifests/000000000004-000000rs2ded83ba.json`,
      earlier: [],
      watermark: null,
      drained: false,
      partitions: {
        'bids-0': { offset: 3, watermark: 10, idle: false, state: 's', deltas: ['d1', 'd2'] },
      },
      publishes: [],
      counts: { ...zeroCounts(), records: 1 },
      totals: { ...zeroCounts(), records: 4 },
    };
    const key = manifestKeyOf(manifest);
    const text = encodeInlineManifest(manifest);
    expect(decodeInlineManifest(text, key, { job: NAME, group: 'bids-0', lineage: 'l-1', epoch: 7 })).toEqual(
      manifest,
    );
    expect(() =>
      decodeInlineManifest('AAAA', key, { job: NAME, group: 'bids-0', lineage: 'l-1', epoch: 7 }),
    ).toThrow(FloeError);
    expect(() =>
      decodeInlineManifest('AAAA', key, { job: NAME, group: 'bids-0', lineage: 'l-1', epoch: 7 }),
    ).toThrow(/group bids-0 of job bids-per-auction/);
  });
});

function manifestKeyOf(m: CheckpointManifest): string {
  return `${manifestPrefix(m.job, m.group)}${String(m.epoch).padStart(12, '0')}-${m.attempt}.json`;
}
