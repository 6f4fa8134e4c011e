/**
 * Type-checks a job file before `floe run` and `floe invoke` load it: tsx strips types without
 * checking them, so a misspelt field or a row that does not match its table would otherwise run.
 *
 * The check uses the TypeScript compiler API (loaded only when a check is due) on the job's own
 * program: the job file and the local files it imports. Settings come from the job's nearest
 * tsconfig.json (its files and includes are ignored), else from strict defaults like Floe's own.
 * Files in node_modules and Floe's own sources are not reported (skipLibCheck in spirit).
 *
 * A passed check is cached by content: an entry per job file (and TypeScript version and
 * tsconfig) lists the hash of every local file of its program and of the tsconfig files, and a
 * re-run whose files all hash the same skips the check without loading the compiler.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type * as TS from 'typescript';
import { StatusLine, type StatusStream } from './progress.ts';
import { UsageError } from './usage-error.ts';

/** At most this many diagnostics are printed; the count line gives the total. */
export const MAX_DIAGNOSTICS = 20;

/** How a job's type check ended, for `--json` reports. */
export interface TypecheckReport {
  /**
   * `checked`: the compiler ran; `cached`: an unchanged job passed before; `skipped`: --no-typecheck,
   * or a JavaScript job.
   */
  readonly outcome: 'checked' | 'cached' | 'skipped';
  readonly elapsedMs: number;
}

export interface TypecheckOptions {
  /** Where diagnostics go. @default process.stderr */
  readonly errors?: (text: string) => void;
  /** Where the "type-checking" status goes when it is a terminal. @default process.stderr */
  readonly status?: StatusStream;
  /** Cache folder. @default node_modules/.cache/floe/typecheck near the job, else the OS temp folder */
  readonly cacheDir?: string;
}

/** Floe's sources: a job imports them, Floe's own build checks them. */
const FLOE_ROOT = resolve(import.meta.dirname, '..');
const FLOE_SOURCES = ['runtime', 'adapters', 'functions', 'cli', 'lib'].map((d) => join(FLOE_ROOT, d) + sep);

/** The settings when the job has no tsconfig.json: strict, as Floe's own. */
const DEFAULT_SETTINGS = {
  target: 'ES2022',
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  lib: ['ES2023'],
  strict: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  allowImportingTsExtensions: true,
  resolveJsonModule: true,
} as const;
/** Always: nothing is written, declaration files are not checked. */
const FORCED = { noEmit: true, skipLibCheck: true } as const;
const CACHE_FORMAT = 1;

interface CacheEntry {
  readonly format: number;
  /** Absolute path → sha256 of the content, for every file the check depended on. */
  readonly files: Readonly<Record<string, string>>;
}

/**
 * Type-checks the job at `path`. Prints the diagnostics (at most 20) and throws a UsageError
 * (exit 2) when there are errors; returns how the check went otherwise.
 */
export async function typecheckJob(path: string, options: TypecheckOptions = {}): Promise<TypecheckReport> {
  const started = performance.now();
  const job = resolve(path);
  // A JavaScript job has no types to check.
  if (!/\.[mc]?tsx?$/.test(job)) return { outcome: 'skipped', elapsedMs: 0 };
  const config = findUp(dirname(job), 'tsconfig.json');
  const key = sha256(
    JSON.stringify({ format: CACHE_FORMAT, job, config, typescript: typescriptVersion(), DEFAULT_SETTINGS }),
  );
  const dirs = options.cacheDir !== undefined ? [options.cacheDir] : cacheDirs(job);
  if (await isCached(dirs, key)) return { outcome: 'cached', elapsedMs: elapsed(started) };

  const status = new StatusLine(options.status ?? process.stderr);
  status.update(() => `floe: type-checking ${path}…`, true);
  let result: CheckResult;
  try {
    result = await check(job, config);
  } finally {
    status.clear();
  }
  if (result.errors.length > 0) {
    const write = options.errors ?? ((text: string) => process.stderr.write(text));
    const shown = result.errors.slice(0, MAX_DIAGNOSTICS);
    write(`${shown.join('\n')}\n`);
    if (result.errors.length > shown.length) write(`… and ${result.errors.length - shown.length} more\n`);
    const n = result.errors.length;
    throw new UsageError(
      result.syntax
        ? `${path} has ${n} syntax error${n === 1 ? '' : 's'}; fix ${n === 1 ? 'it' : 'them'}.`
        : `${path} has ${n} type error${n === 1 ? '' : 's'}; fix ${n === 1 ? 'it' : 'them'} or pass --no-typecheck`,
    );
  }
  await store(dirs, key, result.files);
  return { outcome: 'checked', elapsedMs: elapsed(started) };
}

interface CheckResult {
  /** Formatted error diagnostics. */
  readonly errors: readonly string[];
  /** True when the errors are syntax errors (then semantic ones were not looked for). */
  readonly syntax: boolean;
  /** The files the check depended on: the local files of the program and the tsconfig files. */
  readonly files: readonly string[];
}

async function check(job: string, configPath: string | undefined): Promise<CheckResult> {
  const ts = loadTypescript();
  const isError = (d: TS.Diagnostic) => d.category === ts.DiagnosticCategory.Error;
  const format = (d: TS.Diagnostic) => formatDiagnostic(ts, d);
  // The job's own syntax first, on its own (milliseconds, where the program takes seconds).
  const own = ts.transpileModule(await readFile(job, 'utf8'), { fileName: job, reportDiagnostics: true });
  const ownSyntax = (own.diagnostics ?? []).filter((d) => isError(d) && d.file !== undefined);
  if (ownSyntax.length > 0) return { errors: ownSyntax.map(format), syntax: true, files: [] };

  const configErrors: TS.Diagnostic[] = [];
  const configFiles: string[] = [];
  let settings: TS.CompilerOptions;
  if (configPath !== undefined) {
    const source = ts.readJsonConfigFile(configPath, ts.sys.readFile);
    // Only the settings matter: the project's files and includes are not listed (no directory walk).
    const host: TS.ParseConfigHost = {
      useCaseSensitiveFileNames: ts.sys.useCaseSensitiveFileNames,
      readDirectory: () => [],
      fileExists: ts.sys.fileExists,
      readFile: ts.sys.readFile,
    };
    const parsed = ts.parseJsonSourceFileConfigFileContent(
      source,
      host,
      dirname(configPath),
      undefined,
      configPath,
    );
    // 18003: "No inputs were found", because the directory walk is skipped.
    configErrors.push(...parsed.errors.filter((d) => d.code !== 18003));
    settings = parsed.options;
    configFiles.push(
      configPath,
      ...((source as { extendedSourceFiles?: string[] }).extendedSourceFiles ?? []),
    );
  } else {
    const converted = ts.convertCompilerOptionsFromJson(DEFAULT_SETTINGS, dirname(job));
    configErrors.push(...converted.errors);
    settings = converted.options;
  }
  const compilerOptions: TS.CompilerOptions = {
    ...settings,
    ...FORCED,
    declaration: false,
    emitDeclarationOnly: false,
    composite: false,
    incremental: false,
  };
  const host = ts.createCompilerHost(compilerOptions, true);
  // Without a tsconfig, @types are looked for from the job's folder up.
  if (configPath === undefined) host.getCurrentDirectory = () => dirname(job);
  const program = ts.createProgram({ rootNames: [job], options: compilerOptions, host });
  const local = program
    .getSourceFiles()
    .filter(
      (file) =>
        !file.fileName.split('/').includes('node_modules') && !program.isSourceFileDefaultLibrary(file),
    );
  const checked = local.filter(
    (file) => !file.isDeclarationFile && !FLOE_SOURCES.some((d) => resolve(file.fileName).startsWith(d)),
  );
  const files = [...configFiles, ...local.map((file) => resolve(file.fileName))];

  const syntax = checked.flatMap((file) => program.getSyntacticDiagnostics(file)).filter(isError);
  if (syntax.length > 0) return { errors: syntax.map(format), syntax: true, files };
  const semantic = [
    ...configErrors,
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...checked.flatMap((file) => program.getSemanticDiagnostics(file)),
  ].filter(isError);
  // A job outside a project that installs floe: say how to make one, not 20 follow-on errors.
  const missingFloe = semantic.find(
    (d) => d.code === 2307 && /'floe(\/[^']*)?'/.test(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  );
  if (missingFloe !== undefined) {
    throw new UsageError(
      notInAFloeProject(job, ts.flattenDiagnosticMessageText(missingFloe.messageText, '\n')),
    );
  }
  return { errors: semantic.map(format), syntax: false, files };
}

/** The one-line error for a job that cannot import `floe` from where it is. */
export function notInAFloeProject(path: string, detail: string): string {
  return `${path} is not in a project that installs floe (${detail.split('\n')[0]}): create one with \`npx floe init <dir>\` and keep the job there (README: "Use Floe in your own project").`;
}

/** `file:line:col - error TSxxxx: message`, the path relative to the working directory. */
function formatDiagnostic(ts: typeof TS, d: TS.Diagnostic): string {
  const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  const text = `error TS${d.code}: ${message}`;
  if (d.file === undefined || d.start === undefined) return text;
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
  return `${displayPath(d.file.fileName)}:${line + 1}:${character + 1} - ${text}`;
}

/** A path relative to the working directory when it is under it, else absolute. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : resolve(path);
}

/**
 * The compiler, with require: importing its 9 MB CommonJS file as ESM costs 3-4x more (Node scans
 * it for named exports), about 0.8-1.2 s against 0.2-0.4 s measured.
 */
function loadTypescript(): typeof TS {
  return createRequire(import.meta.url)('typescript') as typeof TS;
}

/** TypeScript's version, from its package.json: the cached path does not load the compiler. */
function typescriptVersion(): string {
  const require = createRequire(import.meta.url);
  return (JSON.parse(readFileSync(require.resolve('typescript/package.json'), 'utf8')) as { version: string })
    .version;
}

function findUp(from: string, name: string): string | undefined {
  for (let dir = from; ; ) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** `node_modules/.cache/floe/typecheck` in the nearest node_modules above the job, then the OS temp folder. */
function cacheDirs(job: string): string[] {
  const modules = findUp(dirname(job), 'node_modules');
  const temp = join(tmpdir(), 'floe-typecheck');
  return modules === undefined ? [temp] : [join(modules, '.cache', 'floe', 'typecheck'), temp];
}

async function isCached(dirs: readonly string[], key: string): Promise<boolean> {
  for (const dir of dirs) {
    let entry: CacheEntry;
    try {
      entry = JSON.parse(await readFile(join(dir, `${key}.json`), 'utf8')) as CacheEntry;
    } catch {
      continue;
    }
    if (entry.format !== CACHE_FORMAT) continue;
    const hashes = await Promise.all(
      Object.keys(entry.files).map((file) => readFile(file).then(sha256, () => undefined)),
    );
    if (Object.values(entry.files).every((hash, i) => hashes[i] === hash)) return true;
  }
  return false;
}

/** Records a passed check in the first cache folder that can be written; a cache is optional. */
async function store(dirs: readonly string[], key: string, files: readonly string[]): Promise<void> {
  const hashes = await Promise.all(files.map((file) => readFile(file).then(sha256)));
  const entry: CacheEntry = {
    format: CACHE_FORMAT,
    files: Object.fromEntries(files.map((file, i) => [file, hashes[i]!])),
  };
  for (const dir of dirs) {
    try {
      await mkdir(dir, { recursive: true });
      const path = join(dir, `${key}.json`);
      const temp = `${path}.${process.pid}.tmp`;
      await writeFile(temp, `${JSON.stringify(entry)}\n`);
      await rename(temp, path);
      return;
    } catch {}
  }
}

/**
 * A syntax error tsx (esbuild) found while loading a job with --no-typecheck, as
 * `file:line:col - error: message` lines; undefined when the error is not one.
 */
export function syntaxErrorLines(error: unknown): string[] | undefined {
  const message = error instanceof Error ? error.message : undefined;
  if (message === undefined || !/^Transform failed with \d+ errors?:/.test(message)) return undefined;
  const lines = message
    .split('\n')
    .slice(1)
    .flatMap((line) => {
      const match = /^(.*):(\d+):(\d+): ERROR: (.*)$/.exec(line);
      return match === null
        ? []
        : [`${displayPath(match[1]!)}:${match[2]}:${Number(match[3]) + 1} - error: ${match[4]}`];
    });
  return lines.length > 0 ? lines : undefined;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
