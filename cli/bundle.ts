/**
 * How a Floe Lambda function is bundled: one ES module for Node 24 with every dependency inside,
 * exporting `handler`. `floe invoke --emulator`, the emulator test, the cold-start bench and the
 * CDK construct (lib/floe-job.ts, through `bundleJobHandlerSync`) all bundle with it: the same
 * entry, the same esbuild options, so what runs in the emulator is what Lambda runs.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

/** Lambda's Node.js 24 runtime (nodejs24.x). */
export const LAMBDA_NODE_TARGET = 'node24';

/**
 * ESM has no `require`; some dependencies (avsc) are CommonJS and call it. esbuild's bundle of
 * them then needs one in scope: the standard banner for ESM bundles on Node.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __floeCreateRequire } from 'node:module'; const require = __floeCreateRequire(import.meta.url);";

/** The root of this Floe (the folder of its package.json). */
const FLOE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * True in a source checkout of Floe (cli/main.ts is there; the package does not ship it): `floe`
 * must then resolve to its TypeScript sources through the `floe-source` export condition, as
 * everywhere else in the repository (docs/design.md, "The package"). In an installed package the
 * condition would point at files that are not shipped.
 */
export const IN_SOURCE_CHECKOUT = existsSync(join(FLOE_ROOT, 'cli', 'main.ts'));

export interface LambdaBundleInput {
  /** The entry module, exporting `handler`; or `source` with `resolveDir`. */
  readonly entry?: string;
  /** The entry's source text (esbuild's stdin), resolved from `resolveDir`. */
  readonly source?: { readonly contents: string; readonly resolveDir: string };
  /** Where the bundle goes: `<outfile>` and `<outfile>.map`. */
  readonly outfile: string;
  /** Add the `floe-source` condition. @default IN_SOURCE_CHECKOUT */
  readonly floeSource?: boolean;
}

/**
 * The esbuild options of a Lambda bundle. Every dependency is bundled, the AWS SDK included (the
 * runtime's own copy is not used: the bundle runs the versions the tests ran, in the emulator as
 * in Lambda). Minified with names kept (error names and class names show in logs), a linked
 * source map (set NODE_OPTIONS=--enable-source-maps to use it), no code splitting: one file.
 */
export function lambdaBundleOptions(input: LambdaBundleInput): BuildOptions {
  const floeSource = input.floeSource ?? IN_SOURCE_CHECKOUT;
  return {
    ...(input.entry !== undefined ? { entryPoints: [input.entry] } : {}),
    ...(input.source !== undefined
      ? {
          stdin: {
            contents: input.source.contents,
            resolveDir: input.source.resolveDir,
            sourcefile: 'lambda-entry.ts',
            loader: 'ts' as const,
          },
        }
      : {}),
    outfile: input.outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: LAMBDA_NODE_TARGET,
    ...(floeSource ? { conditions: ['floe-source'] } : {}),
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    minify: true,
    keepNames: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'silent',
    metafile: true,
  };
}

export interface LambdaBundle {
  readonly outfile: string;
  readonly bytes: number;
}

/** Bundles a Lambda entry module (exporting `handler`) with {@link lambdaBundleOptions}. */
export async function bundleLambda(input: LambdaBundleInput): Promise<LambdaBundle> {
  const esbuild = await loadEsbuild();
  await mkdir(dirname(input.outfile), { recursive: true });
  try {
    await esbuild.build(lambdaBundleOptions(input));
  } catch (error) {
    throw bundlingError(error);
  }
  return { outfile: input.outfile, bytes: (await stat(input.outfile)).size };
}

/** Which handler of a job a bundle exports: the Kafka handler, or the ticker's. */
export interface JobBundleOptions {
  /** Export `handler = createTicker(job)` instead of `createHandler(job)`. @default false */
  readonly ticker?: boolean;
}

/**
 * The entry of a job's function: it imports the job and `floe/lambda` and exports `handler =
 * createHandler(job)` (or `createTicker(job)`). `floe/lambda` resolves from the job's folder, as
 * the job's own `floe` import does: one Floe runtime in the bundle.
 */
export function jobHandlerSource(
  jobPath: string,
  options: JobBundleOptions = {},
): { readonly contents: string; readonly resolveDir: string } {
  const job = resolve(jobPath);
  const resolveDir = dirname(job);
  let specifier = relative(resolveDir, job).split(sep).join('/');
  if (!specifier.startsWith('.')) specifier = `./${specifier}`;
  const create = options.ticker ? 'createTicker' : 'createHandler';
  const contents = [
    `import { ${create} } from 'floe/lambda';`,
    `import job from ${JSON.stringify(specifier)};`,
    `export const handler = ${create}(job);`,
  ].join('\n');
  return { contents, resolveDir };
}

/**
 * Bundles the handler of a job file as a deployment does (the CDK construct calls
 * {@link bundleJobHandlerSync} with the same entry and options).
 */
export async function bundleJobHandler(
  jobPath: string,
  outfile: string,
  options: JobBundleOptions = {},
): Promise<LambdaBundle> {
  return bundleLambda({ source: jobHandlerSource(jobPath, options), outfile });
}

/**
 * {@link bundleJobHandler}, synchronously: for the CDK construct, whose constructor cannot wait
 * (an asset's local bundling). Same entry, same esbuild options.
 */
export function bundleJobHandlerSync(
  jobPath: string,
  outfile: string,
  options: JobBundleOptions = {},
): LambdaBundle {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  } catch (error) {
    throw new Error(ESBUILD_MISSING, { cause: error });
  }
  mkdirSync(dirname(outfile), { recursive: true });
  try {
    esbuild.buildSync(lambdaBundleOptions({ source: jobHandlerSource(jobPath, options), outfile }));
  } catch (error) {
    throw bundlingError(error);
  }
  return { outfile, bytes: statSync(outfile).size };
}

const ESBUILD_MISSING =
  'Bundling a Lambda handler needs esbuild: npm install --save-dev esbuild (Floe is tested with 0.28).';

function bundlingError(error: unknown): unknown {
  const errors = (error as { errors?: { text: string; location?: { file: string; line: number } }[] }).errors;
  if (errors === undefined) return error;
  const lines = errors
    .slice(0, 10)
    .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text));
  return new Error(`Bundling the Lambda handler failed:\n${lines.join('\n')}`, { cause: error });
}

async function loadEsbuild(): Promise<typeof import('esbuild')> {
  try {
    return await import('esbuild');
  } catch (error) {
    throw new Error(ESBUILD_MISSING, { cause: error });
  }
}
