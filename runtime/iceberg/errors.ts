/**
 * Errors of the Iceberg writer. Each message names the table and the file involved, and says
 * what to do about it.
 */
import { FloeError } from '../errors.ts';

/** Base class: something about an Iceberg table could not be read or written. */
export class IcebergError extends FloeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IcebergError';
  }
}

/** A metadata, manifest or manifest list file is missing, unreadable, or not what the spec requires. */
export class IcebergMetadataError extends IcebergError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IcebergMetadataError';
  }
}

/** The table in the catalog has a schema other than the one the job declares. */
export class SchemaMismatchError extends IcebergError {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaMismatchError';
  }
}

/** Every attempt to swap the table pointer lost to a concurrent writer. */
export class CommitConflictError extends IcebergError {
  constructor(message: string) {
    super(message);
    this.name = 'CommitConflictError';
  }
}

/** A data file key already holds different bytes: two writers chose the same key for different rows. */
export class DataFileConflictError extends IcebergError {
  constructor(message: string) {
    super(message);
    this.name = 'DataFileConflictError';
  }
}
