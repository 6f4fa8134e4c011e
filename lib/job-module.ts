// What FloeJob needs to know about the user's job module at synth time: where its project is,
// the job's name, and whether a ticker can do anything for it. The function's entry and bundle
// are cli/bundle.ts's (bundleJobHandlerSync).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const LOCK_FILES = ['package-lock.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lockb', 'bun.lock'];

/**
 * Whether Floe runs from a source checkout (lib/*.ts next to functions/*.ts) rather than from
 * its compiled package (dist/lib/*.js). The same test as bin/floe.js: the package ships no
 * TypeScript sources.
 */
export function floeSourceCheckout(): boolean {
  return existsSync(fileURLToPath(new URL('../functions/index.ts', import.meta.url)));
}

/** The directory holding the nearest lock file above `from`, and that lock file. */
export function findProjectRoot(
  from: string,
): { readonly root: string; readonly lockFile: string } | undefined {
  let dir = resolve(from);
  for (;;) {
    for (const name of LOCK_FILES) {
      const lockFile = join(dir, name);
      if (existsSync(lockFile)) return { root: dir, lockFile };
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** What the construct needs to know about a job at synth time. */
export interface JobInfo {
  readonly name: string;
  /** The idleness timeout (`withIdleness`), if any. */
  readonly idlenessMs?: number;
  /**
   * Whether a tick (a batch without records) can ever change the job's state: it has an idleness
   * timeout, and its windows wait for every partition or `idleTopicWatermark` is
   * `'processing-time'` (as `CheckpointedProcessor.ticksMatter`).
   */
  readonly ticksMatter: boolean;
  /** `job` when its windows merge partitions (keyBy without isKafkaKey, windowAll), else `partition`. */
  readonly scope: 'job' | 'partition';
}

const loaded = new Map<string, JobInfo>();

/** The job's name. See {@link readJobInfo}. */
export function readJobName(jobFile: string): string {
  return readJobInfo(jobFile).name;
}

/**
 * Loads the job module in a child Node process (through tsx, as `floe run` does) and returns what
 * its default export says about itself; throws with the loader's message when the module does not
 * load or exports no job. Synchronous because construct constructors are; once per file and
 * process.
 */
export function readJobInfo(jobFile: string): JobInfo {
  const known = loaded.get(resolve(jobFile));
  if (known !== undefined) return known;
  const script = [
    'const mod = await import(process.argv[1]);',
    'const job = mod.default;',
    "if (!job || typeof job !== 'object' || typeof job.name !== 'string' || typeof job.toString !== 'function') {",
    '  console.error(\'its default export is not a Floe job (export default job("name")...)\');',
    '  process.exit(2);',
    '}',
    'const w = job.plan?.watermarks ?? {};',
    'const ticksMatter = w.idlenessMs !== undefined && (job.plan.scope === "job" || w.idleTopicWatermark === "processing-time");',
    'process.stdout.write(JSON.stringify({ name: job.name, idlenessMs: w.idlenessMs, ticksMatter, scope: job.plan.scope }));',
  ].join('\n');
  const args = [
    ...(floeSourceCheckout() ? ['--conditions=floe-source'] : []),
    '--import',
    pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href,
    '--input-type=module',
    '--eval',
    script,
    pathToFileURL(jobFile).href,
  ];
  const result = spawnSync(process.execPath, args, {
    cwd: dirname(jobFile),
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (result.status !== 0) {
    const reason = (result.stderr || String(result.error ?? `exit ${result.status}`)).trim().split('\n');
    const message = reason.find((line) => /error/i.test(line)) ?? reason.at(-1);
    throw new Error(`jobFile ${jobFile} could not be loaded: ${message}`);
  }
  const info = JSON.parse(result.stdout) as JobInfo;
  loaded.set(resolve(jobFile), info);
  return info;
}
