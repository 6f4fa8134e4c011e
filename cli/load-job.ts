import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Job } from '../runtime/job/job.ts';
import { UsageError } from './usage-error.ts';

/** Imports a job module (TypeScript or JavaScript) and returns its default export. */
export async function loadJob(path: string): Promise<Job<unknown>> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new UsageError(`Job file not found: ${path}`);
  const module = (await import(pathToFileURL(absolute).href)) as { default?: unknown };
  const candidate = module.default;
  if (!(candidate instanceof Job)) {
    throw new UsageError(
      `${path} must export a job as its default export (export default job('name')...sinkTo(table)); found ${candidate === undefined ? 'no default export' : typeof candidate}.`,
    );
  }
  return candidate as Job<unknown>;
}
