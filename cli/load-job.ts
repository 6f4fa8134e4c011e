import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Job } from '../runtime/job/job.ts';
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
      throw new UsageError(
        `${path} is not in a project that installs floe (${String(message).split('\n')[0]}): create one with \`npx floe init <dir>\` and keep the job there (README: "Use Floe in your own project").`,
      );
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
