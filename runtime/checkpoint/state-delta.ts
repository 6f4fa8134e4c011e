/**
 * State deltas: what changed in one partition's engine state since its previous committed state,
 * as a small JSON object, and how to apply it. A partition's committed state is a base object
 * (the whole state, `encodePartition`) followed by the deltas committed since, oldest first.
 *
 * The previous committed state is kept in memory as a {@link PartitionImage}: every map entry as
 * its JSON text, tagged as in state-codec.ts (bigint as `{"$bigint": "…"}`, non-finite numbers as
 * `{"$number": "…"}`; sessions one text each). Diffing the live state against it stringifies
 * each window and dedupe entry once (O(state) CPU per commit, as the whole-text comparison it
 * replaces) and each new session, but only changed entries are written, and a commit that writes
 * a base assembles it from the new image ({@link encodeImage}).
 *
 * A delta holds:
 * - the scalars (offset, maxTimestamp, watermark, lastActiveAt, idle), in full;
 * - per map (window ends, the keys of each window, sessions, dedupe ids) the keys removed and the
 *   keys set with their new value (a window's key diff; a session key's list, where a session
 *   unchanged since the previous image is its index in the key's previous list: version 2).
 *
 * Sessions are compared by identity, not by text: the engine changes a session only in a copy
 * made in the batch (see SessionPartial), so a key's list of mostly old sessions costs a text for
 * its new ones only. A job whose keys keep many partial sessions open (bidder-sessions keeps
 * about 7 per key, of which a batch changes about one) writes and stringifies a seventh of it.
 *
 * Applying removes first, then sets in order: a key already present is updated in place, others
 * are appended. The diff keeps Map insertion order exact (the engine fires a window's keys in
 * that order): the keys that kept their relative order form a prefix that stays in place, and a
 * key after it that was there before (deleted and added again, so moved to the end) is sent as
 * removed and set. Applying a partition's deltas to its base therefore gives the live state
 * exactly, order included.
 */
import type { PartitionState, SessionPartial } from '../engine/state.ts';
import {
  assemblePartition,
  parseTagged,
  scalarsText,
  sessionText,
  stringifyTagged,
} from '../engine/state-codec.ts';
import type { Key } from '../job/plan.ts';

/**
 * The committed state of one partition in a comparable form: every entry as tagged JSON, the
 * texts its encoding is assembled from (state-codec.ts), so {@link encodeImage} gives the base.
 */
export interface PartitionImage {
  readonly scalars: string;
  readonly windows: ReadonlyMap<number, ReadonlyMap<Key, string>>;
  readonly sessions: ReadonlyMap<Key, SessionsImage>;
  readonly seenIds: ReadonlyMap<Key, string>;
}

/**
 * A key's sessions as last diffed: the session objects then in its list, and the text of each.
 * The engine changes no session object once a batch has ended (it changes a copy: see
 * SessionPartial), so a session that is the same object as one here is unchanged, and a delta
 * refers to it by its index here instead of writing it again.
 */
export interface SessionsImage {
  readonly sessions: readonly SessionPartial[];
  readonly texts: readonly string[];
}

/** A partition's state compared with its previous image. */
export interface PartitionDiff {
  /** False when the state equals the image: nothing to write. */
  readonly changed: boolean;
  /** The delta object's text (a delta from nothing when there was no image). */
  readonly text: string;
  /** The image of the state now, to diff the next commit against. */
  readonly image: PartitionImage;
}

/** A partition's committed objects: a base, then deltas. */
export interface StateChain {
  readonly baseBytes: number;
  readonly deltaBytes: number;
  readonly deltaCount: number;
}

/**
 * Deltas per base at most: a cold load reads at most this many objects after the base.
 * @see shouldWriteBase
 */
export const DEFAULT_MAX_DELTAS = 32;

/**
 * Whether a commit writes a new base rather than a delta of `deltaBytes`: when there is no base
 * yet, when the deltas since the base would then outweigh the base (bytes), or when they would
 * be more than `maxDeltas`. So a cold load reads at most about twice the base's bytes in at most
 * `maxDeltas + 1` objects, and the bytes written per base cycle are at most twice the base's
 * size: the whole state is rewritten at most once per base's worth of changes.
 */
export function shouldWriteBase(
  chain: StateChain | undefined,
  deltaBytes: number,
  maxDeltas: number,
): boolean {
  if (chain === undefined) return true;
  return chain.deltaCount + 1 > maxDeltas || chain.deltaBytes + deltaBytes > chain.baseBytes;
}

const imageSizes = new WeakMap<PartitionImage, number>();

/**
 * About how many characters the state an image shows takes as JSON (its entries' texts; the
 * encoding's punctuation aside), counted until it passes `stopAbove`. Remembered per image,
 * which is immutable, when counted in full.
 */
export function imageChars(image: PartitionImage, stopAbove = Number.POSITIVE_INFINITY): number {
  let chars = imageSizes.get(image);
  if (chars !== undefined) return chars;
  chars = image.scalars.length;
  for (const [, byKey] of image.windows) {
    for (const [key, text] of byKey) chars += keyChars(key) + text.length;
    if (chars > stopAbove) return chars;
  }
  for (const [key, { texts }] of image.sessions) {
    chars += keyChars(key) + texts.length + 1;
    for (const text of texts) chars += text.length;
    if (chars > stopAbove) return chars;
  }
  for (const [key, text] of image.seenIds) chars += keyChars(key) + text.length;
  imageSizes.set(image, chars);
  return chars;
}

function keyChars(key: Key): number {
  return typeof key === 'string' ? key.length + 2 : 8;
}

/**
 * The whole state's text (`encodePartition`), assembled from the image of that state: a base
 * costs no second pass over the state after the diff that made the image.
 */
export function encodeImage(p: PartitionState, image: PartitionImage): string {
  const sessions = new Map<Key, string>();
  for (const [key, { texts }] of image.sessions) sessions.set(key, `[${texts.join(',')}]`);
  return assemblePartition(p, { ...image, sessions });
}

/** The image of a state, as {@link diffPartition} leaves it. */
export function imageOf(p: PartitionState): PartitionImage {
  return diffPartition(undefined, p).image;
}

/** Diffs a partition's live state against its previous image (none: the delta from nothing). */
export function diffPartition(before: PartitionImage | undefined, p: PartitionState): PartitionDiff {
  const scalars = scalarsText(p);
  const windows = diffMap(before?.windows, p.windows, (byKey, prev: ReadonlyMap<Key, string> | undefined) => {
    const inner = diffMap(prev, byKey, leaf);
    const empty = inner.remove.length === 0 && inner.set.length === 0;
    return { image: inner.image, change: prev !== undefined && empty ? undefined : mapText(inner) };
  });
  const sessions = diffMap(before?.sessions, p.sessions, diffSessions);
  const seenIds = diffMap(before?.seenIds, p.seenIds, leaf);
  const changed =
    before === undefined ||
    before.scalars !== scalars ||
    [windows, sessions, seenIds].some((d) => d.remove.length > 0 || d.set.length > 0);
  return {
    changed,
    text: `{"version":2,"delta":{"scalars":${scalars},"windows":${mapText(windows)},"sessions":${mapText(sessions)},"seenIds":${mapText(seenIds)}}}`,
    image: { scalars, windows: windows.image, sessions: sessions.image, seenIds: seenIds.image },
  };
}

/** Applies a delta's text to a partition's state, in place. */
export function applyDelta(p: PartitionState, text: string): void {
  const parsed = parseTagged(text) as { version?: number; delta?: EncodedDelta } | null;
  // Version 1 wrote each changed key's sessions in full; version 2 may refer to earlier ones.
  if ((parsed?.version !== 1 && parsed?.version !== 2) || parsed.delta === undefined)
    throw new Error(`Unsupported state delta; expected version 1 or 2, got ${String(parsed?.version)}.`);
  const d = parsed.delta;
  p.offset = d.scalars.offset;
  p.maxTimestamp = d.scalars.maxTimestamp;
  p.watermark = d.scalars.watermark;
  p.lastActiveAt = d.scalars.lastActiveAt;
  p.idle = d.scalars.idle;
  for (const end of d.windows.remove) p.windows.delete(end);
  for (const [end, inner] of d.windows.set) {
    let byKey = p.windows.get(end);
    if (byKey === undefined) {
      byKey = new Map();
      p.windows.set(end, byKey);
    }
    applyMap(byKey, inner, (acc) => acc);
  }
  for (const key of d.sessions.remove) p.sessions.delete(key);
  for (const [key, items] of d.sessions.set) {
    const before = p.sessions.get(key);
    p.sessions.set(
      key,
      items.map((item): SessionPartial => {
        if (typeof item !== 'number') return { start: item[0], end: item[1], acc: item[2] };
        const kept = before?.[item];
        if (kept === undefined)
          throw new Error(
            `State delta refers to session ${item} of key ${stringifyTagged(key)}, which the state does not hold: the checkpoint's chain is broken.`,
          );
        return kept;
      }),
    );
  }
  applyMap(p.seenIds, d.seenIds, (expiry: number) => expiry);
}

interface EncodedMap<K, V> {
  remove: K[];
  set: [K, V][];
}

interface EncodedDelta {
  scalars: {
    offset: number;
    maxTimestamp: number;
    watermark: number;
    lastActiveAt: number | null;
    idle: boolean;
  };
  windows: EncodedMap<number, EncodedMap<Key, unknown>>;
  /** A session's index in the key's list before the delta (unchanged), or the session. */
  sessions: EncodedMap<Key, (number | [number, number, unknown])[]>;
  seenIds: EncodedMap<Key, number>;
}

function applyMap<K, E, V>(map: Map<K, V>, encoded: EncodedMap<K, E>, decode: (value: E) => V): void {
  for (const key of encoded.remove) map.delete(key);
  for (const [key, value] of encoded.set) map.set(key, decode(value));
}

interface MapDiff<K, P> {
  readonly image: Map<K, P>;
  /** Key texts removed (including keys that moved, which are also set). */
  readonly remove: string[];
  /** `[key, value]` texts, in the live map's order. */
  readonly set: string[];
}

/**
 * Diffs a map against its previous image. `entry` gives a value's image and its change text
 * against the previous image of the key: undefined when unchanged, and never undefined when
 * there was none.
 */
function diffMap<K, V, P>(
  before: ReadonlyMap<K, P> | undefined,
  map: ReadonlyMap<K, V>,
  entry: (value: V, before: P | undefined) => { image: P; change: string | undefined },
): MapDiff<K, P> {
  const image = new Map<K, P>();
  const remove: string[] = [];
  const set: string[] = [];
  const order = before?.keys();
  // True while the live keys so far kept their order in `before`: they stay in place on apply.
  let inPlace = order !== undefined;
  for (const [key, value] of map) {
    let prev = before?.get(key);
    const had = prev !== undefined;
    if (inPlace) inPlace = had && advanceTo(order!, key);
    if (had && !inPlace) {
      // Deleted and added again since, so now later in the map: send it as removed and set.
      remove.push(stringifyTagged(key));
      prev = undefined;
    }
    const e = entry(value, prev);
    image.set(key, e.image);
    if (e.change !== undefined) set.push(`[${stringifyTagged(key)},${e.change}]`);
  }
  if (before !== undefined)
    for (const key of before.keys()) if (!map.has(key)) remove.push(stringifyTagged(key));
  return { image, remove, set };
}

/** Moves the iterator past `key`; false if it is not ahead (it was earlier, or is not there). */
function advanceTo<K>(order: Iterator<K>, key: K): boolean {
  for (let next = order.next(); next.done !== true; next = order.next()) {
    if (sameValueZero(next.value, key)) return true;
  }
  return false;
}

function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/**
 * A key's sessions against their previous image: a session that is the same object as one there
 * is written as that one's index (sessions keep their order in a list, so the search moves
 * forward), any other as its text. Unchanged when every session is the one at its own index, or
 * has the same text.
 */
function diffSessions(
  list: readonly SessionPartial[],
  prev: SessionsImage | undefined,
): { image: SessionsImage; change: string | undefined } {
  const n = list.length;
  const before = prev?.sessions ?? [];
  // Usually a batch leaves a key's older sessions as they were and changes or adds its last ones:
  // the run of sessions still at their own index is taken as a whole.
  let kept = 0;
  const common = Math.min(n, before.length);
  while (kept < common && list[kept] === before[kept]) kept++;
  if (prev !== undefined && kept === n && n === before.length) return { image: prev, change: undefined };
  const texts = kept === 0 ? [] : prev!.texts.slice(0, kept);
  let same = prev !== undefined && before.length === n;
  let items = keptText(kept);
  let cursor = kept;
  for (let i = kept; i < n; i++) {
    const s = list[i]!;
    let at = -1;
    // The previous list is sorted by start too, and its sessions kept theirs: past s's start,
    // s is not there (if a list were not sorted, s would only be written in full).
    for (let j = cursor; j < before.length && before[j]!.start <= s.start; j++) {
      if (before[j] === s) {
        at = j;
        break;
      }
    }
    let text: string;
    if (at >= 0) {
      cursor = at + 1;
      text = prev!.texts[at]!;
      if (at !== i) same = false;
      items += i === 0 ? indexText(at) : `,${indexText(at)}`;
    } else {
      text = sessionText(s);
      if (same && prev!.texts[i] !== text) same = false;
      items += i === 0 ? text : `,${text}`;
    }
    texts.push(text);
  }
  return { image: { sessions: list.slice(), texts }, change: same ? undefined : `[${items}]` };
}

const INDEX_TEXTS = Array.from({ length: 256 }, (_, i) => String(i));

function indexText(i: number): string {
  return INDEX_TEXTS[i] ?? String(i);
}

const KEPT_TEXTS = Array.from({ length: 64 }, (_, k) => INDEX_TEXTS.slice(0, k).join(','));

/** `0,1,…,kept-1`: the indexes of a list's first sessions, unchanged. */
function keptText(kept: number): string {
  return KEPT_TEXTS[kept] ?? Array.from({ length: kept }, (_, i) => i).join(',');
}

function leaf(value: unknown, prev: string | undefined): { image: string; change: string | undefined } {
  const image = stringifyTagged(value);
  return { image, change: image === prev ? undefined : image };
}

function mapText(d: MapDiff<unknown, unknown>): string {
  return `{"remove":[${d.remove.join(',')}],"set":[${d.set.join(',')}]}`;
}
