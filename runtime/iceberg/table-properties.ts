/**
 * The table properties Floe's append reads, with their defaults. Iceberg's own names are used
 * where Iceberg defines the setting (manifest merging, metadata log length); Floe's own settings
 * are prefixed `floe.`.
 */
import { IcebergError } from './errors.ts';

/** Snapshots an append keeps in the metadata: the new one plus the newest others (Floe). */
export const SNAPSHOTS_RETAIN = 'floe.snapshots.retain';
export const DEFAULT_SNAPSHOTS_RETAIN = 100;
/** Iceberg: earlier metadata files the metadata log keeps. */
export const PREVIOUS_VERSIONS_MAX = 'write.metadata.previous-versions-max';
export const DEFAULT_PREVIOUS_VERSIONS_MAX = 100;
/** Iceberg: whether an append merges small manifests. */
export const MANIFEST_MERGE_ENABLED = 'commit.manifest-merge.enabled';
/** Iceberg: how many small inherited manifests trigger a merge. */
export const MANIFEST_MIN_COUNT_TO_MERGE = 'commit.manifest.min-count-to-merge';
export const DEFAULT_MANIFEST_MIN_COUNT_TO_MERGE = 100;
/** Iceberg: manifests at least this long are left alone by merging. */
export const MANIFEST_TARGET_SIZE_BYTES = 'commit.manifest.target-size-bytes';
export const DEFAULT_MANIFEST_TARGET_SIZE_BYTES = 8 * 1024 * 1024;

export interface ManifestMergeSettings {
  readonly enabled: boolean;
  readonly minCountToMerge: number;
  readonly targetSizeBytes: number;
}

/** How many snapshots an append keeps (`floe.snapshots.retain`, a positive integer). */
export function snapshotsToRetain(properties: Readonly<Record<string, string>>, table?: string): number {
  return integerProperty(properties, SNAPSHOTS_RETAIN, DEFAULT_SNAPSHOTS_RETAIN, 1, table);
}

/** The manifest merge settings of a table, Iceberg's defaults where unset. */
export function manifestMergeSettings(
  properties: Readonly<Record<string, string>>,
  table?: string,
): ManifestMergeSettings {
  const enabled = properties[MANIFEST_MERGE_ENABLED];
  if (enabled !== undefined && !/^(true|false)$/i.test(enabled.trim())) {
    throw invalid(table, MANIFEST_MERGE_ENABLED, enabled, 'true or false');
  }
  return {
    enabled: enabled === undefined || enabled.trim().toLowerCase() === 'true',
    minCountToMerge: integerProperty(
      properties,
      MANIFEST_MIN_COUNT_TO_MERGE,
      DEFAULT_MANIFEST_MIN_COUNT_TO_MERGE,
      0,
      table,
    ),
    targetSizeBytes: integerProperty(
      properties,
      MANIFEST_TARGET_SIZE_BYTES,
      DEFAULT_MANIFEST_TARGET_SIZE_BYTES,
      1,
      table,
    ),
  };
}

function integerProperty(
  properties: Readonly<Record<string, string>>,
  name: string,
  fallback: number,
  min: number,
  table: string | undefined,
): number {
  const text = properties[name];
  if (text === undefined) return fallback;
  const value = Number(text.trim());
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(table, name, text, `an integer >= ${min}`);
  }
  return value;
}

function invalid(table: string | undefined, name: string, value: string, expected: string): IcebergError {
  return new IcebergError(
    `${table === undefined ? 'Table' : `Table ${table}`}: table property ${name} is "${value}"; expected ${expected}. Fix the property (or remove it for the default).`,
  );
}
