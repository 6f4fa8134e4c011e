import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FloeConfigError } from '../runtime/errors.ts';
import { Job } from '../runtime/job/job.ts';
import { notInAFloeProject, syntaxErrorLines, type TypecheckReport, typecheckJob } from './typecheck.ts';
import { UsageError } from './usage-error.ts';

/** Imports a job module (TypeScript or JavaScript) and returns its default export. */
export async function loadJob(path: string): Promise<Job<unknown>> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new UsageError(`Job file not found: ${path}`);
  const module = (await import(pathToFileURL(absolute).href).catch((error: unknown) => {
    // Node resolves `floe` from the job's folder up, not from wherever this command lives; and a
    // job outside an ES module project ("type": "module") loads as CommonJS, in a require cycle.
    const { code, message } = error as { code?: string; message?: string };
    if (code === 'ERR_REQUIRE_CYCLE_MODULE' || /Cannot find (module|package) 'floe'/.test(String(message)))
      throw new UsageError(notInAFloeProject(path, String(message)));
    throw error;
  })) as { default?: unknown };
  const candidate = module.default;
  if (!(candidate instanceof Job)) {
    throw new UsageError(
      `${path} must export a job as its default export (export default job('name')...sinkTo(table)); found ${candidate === undefined ? 'no default export' : typeof candidate}.`,
    );
  }
  return candidate as Job<unknown>;
}

export interface LoadCheckedJobOptions {
  /** Type-check the job file first (`--no-typecheck` turns it off). */
  readonly typecheck: boolean;
  /** Where diagnostics go. @default process.stderr */
  readonly errors?: (text: string) => void;
}

/**
 * Type-checks (unless turned off) and loads a job file for `floe run` and `floe invoke`. Every
 * failure is a UsageError (one line, exit 2) after the diagnostics, never a stack trace: type
 * and syntax errors as `file:line:col - error ...` lines, an invalid job as its config error.
 */
export async function loadCheckedJob(
  path: string,
  options: LoadCheckedJobOptions,
): Promise<{ readonly job: Job<unknown>; readonly typecheck: TypecheckReport }> {
  if (!existsSync(resolve(path))) throw new UsageError(`Job file not found: ${path}`);
  const errors = options.errors ?? ((text: string) => process.stderr.write(text));
  const typecheck: TypecheckReport = options.typecheck
    ? await typecheckJob(path, { errors })
    : { outcome: 'skipped', elapsedMs: 0 };
  try {
    return { job: await loadJob(path), typecheck };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const syntax = syntaxErrorLines(error);
    if (syntax !== undefined) {
      errors(`${syntax.join('\n')}\n`);
      const n = syntax.length;
      throw new UsageError(
        `${path} has ${n} syntax error${n === 1 ? '' : 's'}; fix ${n === 1 ? 'it' : 'them'}.`,
      );
    }
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    if (error instanceof FloeConfigError) {
      throw new UsageError(`${path} defines an invalid job: ${message}`);
    }
    throw new UsageError(`Cannot load the job in ${path}: ${message}`);
  }
}
