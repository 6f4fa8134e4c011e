/**
 * A group's committed state, loaded from the checkpoint its head names: the manifest, and per
 * partition a base state object with the deltas committed since it, applied in order, or the
 * partition's whole state when the manifest holds it (small state, stage.ts `inlineStateOf`).
 */

import type { EngineState, PartitionState } from '../engine/state.ts';
import { decodePartition } from '../engine/state-codec.ts';
import { FloeError } from '../errors.ts';
import type { ObjectStore } from '../stores/object-store.ts';
import type { Head } from './head.ts';
import {
  type CheckpointManifest,
  decodeInlineManifest,
  decodeManifest,
  watermarkFromJson,
} from './manifest.ts';
import { applyDelta, imageOf, type PartitionDiff, type PartitionImage } from './state-delta.ts';

/** A group's committed state, as loaded or as left by this process's last commit. */
export interface LoadedGroup {
  /** The head item's version. */
  readonly version: number;
  readonly lineage: string;
  readonly epoch: number;
  readonly manifestKey: string | null;
  readonly manifest: CheckpointManifest | undefined;
  /** Whether the head holds the manifest (it is not an object in the checkpoint store). */
  readonly inline: boolean;
  readonly state: EngineState;
  /** Each partition's committed state: its image, to diff against, and its objects. */
  readonly chains: Map<string, PartitionChain>;
}

/**
 * A partition's committed state: a base object and deltas, or its whole encoding kept in the
 * manifest (`inline`); and its image to diff against.
 */
export interface PartitionChain {
  readonly image: PartitionImage;
  /** The base object's key; empty when the state is inline. */
  readonly base: string;
  /** Bytes of the base object, or of the inline encoding. */
  readonly baseBytes: number;
  readonly deltas: readonly string[];
  readonly deltaBytes: number;
  /** The partition's whole state (`encodePartition`) when the manifest holds it. */
  readonly inline?: string;
}

/** A partition whose state changed in a batch, and its diff against the committed state. */
export interface ChangedPartition {
  readonly id: string;
  readonly diff: PartitionDiff;
}

/** Reads what a committed checkpoint names; a missing object is an error that says what was lost. */
export class CheckpointReader {
  constructor(
    private readonly checkpoints: ObjectStore,
    private readonly jobName: string,
  ) {}

  async manifest(key: string): Promise<CheckpointManifest> {
    const bytes = await this.checkpoints.get(key);
    if (bytes === undefined) {
      throw new FloeError(
        `Checkpoint manifest ${key} of job ${this.jobName} is missing, but a head names it. The checkpoint store lost an object it must keep; restore it or start from a new run directory.`,
      );
    }
    return decodeManifest(bytes, key);
  }

  /**
   * The manifest a head names (it must name one): from the head itself when it holds it inline,
   * else from the store.
   */
  async manifestOf(job: string, group: string, head: Head): Promise<CheckpointManifest> {
    const { manifest: key, inline, lineage, epoch } = head.value;
    if (key === null)
      throw new FloeError(`The head of group ${group} of job ${this.jobName} names no checkpoint yet.`);
    if (inline !== undefined) return decodeInlineManifest(inline, key, { job, group, lineage, epoch });
    return this.manifest(key);
  }

  /** A manifest, or undefined when it is not (any more) in the store. */
  async manifestIfPresent(key: string): Promise<CheckpointManifest | undefined> {
    const bytes = await this.checkpoints.get(key);
    return bytes === undefined ? undefined : decodeManifest(bytes, key);
  }

  async text(key: string): Promise<string> {
    const bytes = await this.checkpoints.get(key);
    if (bytes === undefined) {
      throw new FloeError(
        `State object ${key} of job ${this.jobName} is missing, but the committed checkpoint names it. The checkpoint store lost an object it must keep; restore it or start from a new run directory.`,
      );
    }
    return new TextDecoder().decode(bytes);
  }
}

/** The state before a group's first commit. */
export function emptyGroup(head: Head, state: EngineState): LoadedGroup {
  return {
    version: head.version,
    lineage: head.value.lineage,
    epoch: 0,
    manifestKey: null,
    manifest: undefined,
    inline: false,
    state,
    chains: new Map(),
  };
}

/**
 * Loads the state the head's manifest names into `state` (a fresh engine state): every base and
 * delta is read at once, so a cold load is one round of reads after the manifest; state the
 * manifest holds inline needs no read at all. Given `behind`, this process's committed state of
 * the group from an earlier epoch of the same lineage (another process has committed since), a
 * partition whose chain still starts with the same base and the deltas `behind` had reads only
 * the deltas after them and applies them to a copy of `behind`'s partition, which shares its
 * entries: `behind` must not be used afterwards.
 */
export async function loadCommittedState(
  reader: CheckpointReader,
  head: Head,
  manifestKey: string,
  manifest: CheckpointManifest,
  state: EngineState,
  behind?: LoadedGroup,
): Promise<LoadedGroup> {
  const entries = Object.entries(manifest.partitions).map(([id, p]) => ({
    id,
    p,
    known: p.inline === undefined ? deltasKnown(behind, id, p) : undefined,
  }));
  const texts = await Promise.all(
    entries.map(({ p, known }) => {
      if (p.inline !== undefined) return [];
      const keys = known === undefined ? [p.state, ...p.deltas] : p.deltas.slice(known);
      return Promise.all(keys.map((key) => reader.text(key)));
    }),
  );
  const chains = new Map<string, PartitionChain>();
  entries.forEach(({ id, p, known }, i) => {
    if (p.inline !== undefined) {
      const partition = decodePartition(p.inline);
      state.partitions.set(id, partition);
      chains.set(id, inlineChain(imageOf(partition), p.inline));
      return;
    }
    if (known !== undefined) {
      const chain = behind!.chains.get(id)!;
      // A new object, as a cold load makes: the engine keeps what it derives from a partition
      // (session timers, dedupe expiries) by the partition object, and must derive it again.
      const partition = copyPartition(behind!.state.partitions.get(id)!);
      const deltaTexts = texts[i]!;
      for (const text of deltaTexts) applyDelta(partition, text);
      state.partitions.set(id, partition);
      chains.set(id, {
        image: deltaTexts.length === 0 ? chain.image : imageOf(partition),
        base: p.state,
        baseBytes: chain.baseBytes,
        deltas: p.deltas,
        deltaBytes: chain.deltaBytes + deltaTexts.reduce((sum, text) => sum + byteLength(text), 0),
      });
      return;
    }
    const [baseText, ...deltaTexts] = texts[i]!;
    const partition = decodePartition(baseText!);
    for (const text of deltaTexts) applyDelta(partition, text);
    state.partitions.set(id, partition);
    chains.set(id, {
      image: imageOf(partition),
      base: p.state,
      baseBytes: byteLength(baseText!),
      deltas: p.deltas,
      deltaBytes: deltaTexts.reduce((sum, text) => sum + byteLength(text), 0),
    });
  });
  state.jobWatermark = watermarkFromJson(manifest.watermark);
  return {
    version: head.version,
    lineage: head.value.lineage,
    epoch: head.value.epoch,
    manifestKey,
    manifest,
    inline: head.value.inline !== undefined,
    state,
    chains,
  };
}

/**
 * How many of a partition's deltas `behind` has applied already, when the manifest's chain for
 * it is `behind`'s with deltas added (same base, and `behind`'s deltas first); else undefined.
 */
function deltasKnown(
  behind: LoadedGroup | undefined,
  id: string,
  p: { readonly state: string; readonly deltas: readonly string[] },
): number | undefined {
  const chain = behind?.chains.get(id);
  if (chain === undefined || chain.inline !== undefined || !behind!.state.partitions.has(id))
    return undefined;
  if (chain.base !== p.state || chain.deltas.length > p.deltas.length) return undefined;
  for (let i = 0; i < chain.deltas.length; i++) if (chain.deltas[i] !== p.deltas[i]) return undefined;
  return chain.deltas.length;
}

/**
 * A partition state as a new object with its own maps and lists (entries shared: the caller takes
 * them over, and the original is not used again). Every field is carried over, those added to
 * PartitionState later included.
 */
export function copyPartition(p: PartitionState): PartitionState {
  return {
    ...p,
    windows: new Map([...p.windows].map(([end, byKey]) => [end, new Map(byKey)])),
    sessions: new Map([...p.sessions].map(([key, list]) => [key, list.slice()])),
    seenIds: new Map(p.seenIds),
  };
}

/** The chain of a partition whose whole state `text` the manifest holds. */
export function inlineChain(image: PartitionImage, text: string): PartitionChain {
  return { image, base: '', baseBytes: byteLength(text), deltas: [], deltaBytes: 0, inline: text };
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
