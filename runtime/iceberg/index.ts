/**
 * Floe's Iceberg v2 append writer: write data files, then commit them as one snapshot with a
 * pre-chosen id, idempotently. See docs/iceberg.md.
 */

export type { Catalog, CatalogTable } from '../stores/catalog.ts';
export {
  type AppendOptions,
  type AppendPlan,
  type AppendPlanner,
  type AppendResult,
  appendFiles,
  appendPlanned,
  loadTable,
  type PlannedAppendOptions,
  type PlannedAppendResult,
  TableCache,
  type TableView,
} from './append-files.ts';
export { type DataFile, type DataFileColumn, type WriteDataFileOptions, writeDataFile } from './data-file.ts';
export {
  CommitConflictError,
  DataFileConflictError,
  IcebergError,
  IcebergMetadataError,
  SchemaMismatchError,
} from './errors.ts';
export { decodeManifest, type Manifest, type ManifestEntry } from './manifest.ts';
export { decodeManifestList, type ManifestFile } from './manifest-list.ts';
export {
  aboveMarks,
  type BacklogEpoch,
  type MarkedSelection,
  markValue,
  type PublisherBacklog,
} from './publisher-marks.ts';
export { type IcebergField, type IcebergSchema, icebergSchema } from './schema.ts';
export { dataFileKey, tableKeyPrefix } from './table-layout.ts';
export { parseTableMetadata, type Snapshot, type TableMetadata } from './table-metadata.ts';
export { scanTable, type TableScan } from './table-scan.ts';
