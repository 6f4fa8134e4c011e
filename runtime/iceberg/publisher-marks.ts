/**
 * Publisher marks: how an append recognises, from the table alone, what a publisher already
 * committed, even after the snapshots that did it expired.
 *
 * A publisher (for Floe, one commit group's history: `floe.published.<lineage>.<group>`) appends
 * its positions (epochs) to a table in order, and sets, in the same metadata commit as the
 * snapshot, the table property `<mark>` to the position it has published through. Anything at or
 * below the stored value is in the table; anything above is not. So an append that carries the
 * positions of several publishers, retried or racing another such append, re-reads the marks on
 * every attempt and keeps only what is above them ({@link aboveMarks}), and sets every involved
 * mark in its own metadata commit: each position lands in the table exactly once.
 */
import type { DataFile } from './data-file.ts';
import { IcebergError, IcebergMetadataError } from './errors.ts';

/**
 * The number a publisher mark holds, or `undefined` when the property is not set. A value that
 * is not a number is an error: the property belongs to the publisher, and guessing could
 * duplicate or drop data.
 */
export function markValue(
  properties: Readonly<Record<string, string>>,
  key: string,
  tableName: string,
): number | undefined {
  const stored = properties[key];
  if (stored === undefined) return undefined;
  const value = Number(stored.trim());
  if (stored.trim() === '' || !Number.isFinite(value)) {
    throw new IcebergMetadataError(
      `Table ${tableName}: table property ${key} is "${stored}", not a number; it is a publisher's high-water mark, so Floe will not guess whether this commit landed. Restore the last published value.`,
    );
  }
  return value;
}

/** One position of a publisher with files for the table. */
export interface BacklogEpoch {
  readonly epoch: number;
  readonly files: readonly DataFile[];
}

/**
 * What one publisher may still have to append to a table. The caller promises that `epochs`
 * lists every position up to `through` that has files for this table and is not known to be
 * published, in ascending order, and that every position it leaves out below the first listed
 * one is published (it is at or below the mark, or an earlier append carried it).
 */
export interface PublisherBacklog<E extends BacklogEpoch = BacklogEpoch> {
  /** The table property of the publisher's mark, e.g. `floe.published.<lineage>.<group>`. */
  readonly mark: string;
  /** The position the publisher will have published through once this append commits. */
  readonly through: number;
  readonly epochs: readonly E[];
}

/** What an append of several publishers' backlogs commits, as the table's marks stand. */
export interface MarkedSelection<E extends BacklogEpoch = BacklogEpoch> {
  /** Each publisher with positions above its mark, and those positions (ascending). */
  readonly included: readonly { readonly backlog: PublisherBacklog<E>; readonly epochs: readonly E[] }[];
  /** Their files: publisher by publisher (in the order given), positions in order. */
  readonly files: readonly DataFile[];
  /** The marks to set in the same metadata commit: `through` of every publisher it moves forward. */
  readonly marks: Readonly<Record<string, string>>;
}

/**
 * The positions of `backlogs` above their publishers' marks in `properties` (the table as an
 * append attempt found it), and the marks to set with them. Marks only move forward. With
 * nothing above any mark, `files` is empty and the append has nothing to do.
 */
export function aboveMarks<E extends BacklogEpoch>(
  properties: Readonly<Record<string, string>>,
  backlogs: readonly PublisherBacklog<E>[],
  tableName: string,
): MarkedSelection<E> {
  const included: { backlog: PublisherBacklog<E>; epochs: E[] }[] = [];
  const files: DataFile[] = [];
  const marks: Record<string, string> = {};
  const seen = new Set<string>();
  for (const backlog of backlogs) {
    if (seen.has(backlog.mark)) {
      throw new IcebergError(`Table ${tableName}: two backlogs of one publisher mark ${backlog.mark}.`);
    }
    seen.add(backlog.mark);
    const mark = markValue(properties, backlog.mark, tableName) ?? Number.NEGATIVE_INFINITY;
    const epochs: E[] = [];
    let previous = Number.NEGATIVE_INFINITY;
    for (const entry of backlog.epochs) {
      if (!(entry.epoch > previous) || entry.epoch > backlog.through) {
        throw new IcebergError(
          `Table ${tableName}: the backlog of ${backlog.mark} must list positions in ascending order up to ${backlog.through}, got ${entry.epoch} after ${previous}.`,
        );
      }
      previous = entry.epoch;
      if (entry.epoch > mark) {
        epochs.push(entry);
        for (const file of entry.files) files.push(file);
      }
    }
    if (epochs.length > 0) included.push({ backlog, epochs });
    if (backlog.through > mark) marks[backlog.mark] = String(backlog.through);
  }
  return { included, files, marks };
}
