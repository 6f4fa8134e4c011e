/**
 * File-system errors as store errors. Failures that retrying cannot heal (no permission, a
 * read-only or full file system, a file where a directory must be) become a
 * {@link PermanentStorageError} whose one-line message names the path and what to do; every other
 * failure stays a retryable {@link StorageError}.
 */
import { PermanentStorageError, StorageError } from '../../runtime/stores/object-store.ts';
import { errorCode } from './durable-file.ts';

/** What each permanent error code means and what to do about it. */
const PERMANENT: Readonly<Record<string, string>> = {
  EACCES: 'permission denied; make it writable (and readable) by this user, or use another directory',
  EPERM: 'operation not permitted; make it writable by this user, or use another directory',
  EROFS: 'the file system is read-only; use a directory on a writable file system',
  ENOSPC: 'no space left on the device; free some space, or use a directory on another disk',
  EDQUOT: 'the disk quota is exceeded; free some space, or use a directory on another disk',
  ENOTDIR: 'a file is in the way of a directory; remove it, or use another directory',
};

/** True when the error's code is one retrying cannot heal. */
export function isPermanentFsError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && Object.hasOwn(PERMANENT, code);
}

/**
 * The store error for a failed file operation: permanent (one line: path, cause, what to do) or
 * retryable (`message`, with the cause).
 */
export function fsStorageError(message: string, cause: unknown): StorageError {
  const code = errorCode(cause);
  if (code !== undefined && Object.hasOwn(PERMANENT, code)) {
    const path = (cause as { path?: unknown }).path;
    const where = typeof path === 'string' ? path : message;
    return new PermanentStorageError(`Cannot use ${where}: ${PERMANENT[code]} (${code}).`, where, { cause });
  }
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new StorageError(`${message}: ${reason}`, { cause });
}
