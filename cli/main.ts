import { parseArgs } from 'node:util';
import { FloeConfigError } from '../runtime/errors.ts';
import { invoke } from './invoke.ts';
import { UsageError } from './usage-error.ts';

const USAGE = `Usage: floe <command> [options]

Commands:
  demo                               Run the Nexmark examples on generated bids (npm start)
      [--bids N] [--partitions N] [--batch-size B] [--seed S] [--dir DIR]
  run <job.ts> --input <file.jsonl>  Run a job over a JSON lines file read as a Kafka topic, exactly once,
                                     into Iceberg tables; restartable after a crash
      [--key FIELD]                  The Kafka key (picks the partition; default: none, round-robin)
      [--partitions N]               Partitions of the topic (default 1)
      [--batch-size B]               Records per Lambda event, 1 to 10000 (default 500)
      [--timestamp FIELD]            Record timestamps from a field (default: the file's mtime)
      [--topic NAME]                 Topic name (default: the file's base name)
      [--dir DIR]                    Run directory (default .floe/run/<job name>)
      [--keep-checkpoints N]         Checkpoint manifests kept per commit group (default 10)
      [--no-typecheck]               Run the job without type-checking it first
      [--json]                       Print the summary as JSON
  invoke <job.ts> --event <file>     Run a job on a Lambda Kafka test event and print the results
      [--dir DIR]                    Where state and outputs go (default .floe/<job name>)
      [--drain]                      End the input: fire every open window
      [--emulator]                   Bundle the handler as Lambda runs it and invoke it in Lambda's
                                     Runtime Interface Emulator (scripts/local-lambda; needs Go once)
      [--no-typecheck]               Run the job without type-checking it first
      [--json]                       Print the result as JSON
  tick <job.ts>                      What the ticker Lambda does on its schedule: idle partitions stop
                                     holding the watermark, and what it passed fires (withIdleness)
      [--dir DIR]                    Run directory (default .floe/<job name>, as invoke)
      [--now <ms|ISO>]               The tick's wall clock (default: now)
      [--no-typecheck]               Run the job without type-checking it first
      [--json]                       Print the result as JSON
  query "<SQL>"                      SQL (DuckDB) over a run's Iceberg tables, named as in the catalog,
                                     e.g. floe query "select * from nexmark.hot_items limit 5"
      [--dir DIR]                    Run directory (default: the only one in .floe/demo, .floe/run/*)
      [--json]                       One JSON object per row (JSON lines)
  tables --dir DIR [--json]          List a run's Iceberg tables and their current metadata files
  init <dir>                         Create a project with a job, sample input and a test, using Floe
      [--floe SPEC]                  The floe dependency's npm spec (default: file: + this Floe's folder)
  help                               Show this help`;

const write = (text: string) => process.stdout.write(`${text}\n`);

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      write(USAGE);
      return;
    case 'invoke': {
      const { values, positionals } = parse(rest, {
        event: { type: 'string' },
        dir: { type: 'string' },
        drain: { type: 'boolean' },
        emulator: { type: 'boolean' },
        json: { type: 'boolean' },
        'no-typecheck': { type: 'boolean' },
      });
      if (positionals.length !== 1)
        throw new UsageError(
          'invoke takes exactly one job file, e.g. floe invoke examples/bids-per-auction.ts --event examples/events/msk-bids.json',
        );
      if (typeof values.event !== 'string')
        throw new UsageError('invoke needs --event <file.json>, a Lambda Kafka event.');
      await invoke(
        {
          jobPath: positionals[0]!,
          eventPath: values.event,
          dir: values.dir as string | undefined,
          drain: values.drain === true,
          emulator: values.emulator === true,
          json: values.json === true,
          typecheck: values['no-typecheck'] !== true,
        },
        write,
      );
      return;
    }
    case 'run': {
      const { values, positionals } = parse(rest, {
        input: { type: 'string' },
        key: { type: 'string' },
        partitions: { type: 'string' },
        'batch-size': { type: 'string' },
        timestamp: { type: 'string' },
        topic: { type: 'string' },
        dir: { type: 'string' },
        'keep-checkpoints': { type: 'string' },
        json: { type: 'boolean' },
        'no-typecheck': { type: 'boolean' },
      });
      if (positionals.length !== 1)
        throw new UsageError(
          'run takes exactly one job file, e.g. floe run examples/bids-per-auction.ts --input bids.jsonl --key auction',
        );
      if (typeof values.input !== 'string')
        throw new UsageError('run needs --input <file.jsonl>, a JSON lines file (one record per line).');
      const { run } = await import('./run.ts');
      await run(
        {
          jobPath: positionals[0]!,
          input: values.input,
          key: values.key as string | undefined,
          partitions: optionalPositiveInt('--partitions', values.partitions),
          batchSize: optionalPositiveInt('--batch-size', values['batch-size']),
          timestamp: values.timestamp as string | undefined,
          topic: values.topic as string | undefined,
          dir: values.dir as string | undefined,
          json: values.json === true,
          keepCheckpoints: optionalPositiveInt('--keep-checkpoints', values['keep-checkpoints']),
          typecheck: values['no-typecheck'] !== true,
        },
        write,
      );
      return;
    }
    case 'tick': {
      const { values, positionals } = parse(rest, {
        dir: { type: 'string' },
        now: { type: 'string' },
        json: { type: 'boolean' },
        'no-typecheck': { type: 'boolean' },
      });
      if (positionals.length !== 1)
        throw new UsageError(
          'tick takes exactly one job file, e.g. floe tick jobs/revenue.ts --dir .floe/revenue',
        );
      const { tick, parseNow } = await import('./tick.ts');
      await tick(
        {
          jobPath: positionals[0]!,
          dir: values.dir as string | undefined,
          now: typeof values.now === 'string' ? parseNow(values.now) : undefined,
          json: values.json === true,
          typecheck: values['no-typecheck'] !== true,
        },
        write,
      );
      return;
    }
    case 'tables': {
      const { values, positionals } = parse(rest, { dir: { type: 'string' }, json: { type: 'boolean' } });
      if (positionals.length > 0)
        throw new UsageError(`tables takes no arguments, got "${positionals.join(' ')}".`);
      if (typeof values.dir !== 'string') throw new UsageError('tables needs --dir DIR, the run directory.');
      const { tables } = await import('./tables.ts');
      await tables({ dir: values.dir, json: values.json === true }, write);
      return;
    }
    case 'query': {
      const { values, positionals } = parse(rest, { dir: { type: 'string' }, json: { type: 'boolean' } });
      if (positionals.length !== 1 || positionals[0]!.trim() === '')
        throw new UsageError(
          'query takes one SQL statement in quotes, e.g. floe query "select * from nexmark.hot_items limit 5"',
        );
      const { query } = await import('./query.ts');
      await query(
        { sql: positionals[0]!, dir: values.dir as string | undefined, json: values.json === true },
        write,
      );
      return;
    }
    case 'init': {
      const { values, positionals } = parse(rest, { floe: { type: 'string' } });
      if (positionals.length !== 1) throw new UsageError('init takes one directory, e.g. floe init my-jobs');
      const { init } = await import('./init.ts');
      await init({ dir: positionals[0]!, floe: values.floe as string | undefined }, write);
      return;
    }
    case 'demo': {
      const { values, positionals } = parse(rest, {
        bids: { type: 'string' },
        partitions: { type: 'string' },
        'batch-size': { type: 'string' },
        seed: { type: 'string' },
        dir: { type: 'string' },
      });
      if (positionals.length > 0)
        throw new UsageError(`demo takes no arguments, got "${positionals.join(' ')}".`);
      const { demo } = await import('./demo.ts');
      await demo(
        {
          bids: optionalPositiveInt('--bids', values.bids),
          partitions: optionalPositiveInt('--partitions', values.partitions),
          batchSize: optionalPositiveInt('--batch-size', values['batch-size']),
          seed: optionalWholeNumber('--seed', values.seed),
          dir: values.dir as string | undefined,
        },
        write,
      );
      return;
    }
    default:
      throw new UsageError(
        `Unknown command "${command}". Commands: demo, run, invoke, tick, query, tables, init, help.`,
      );
  }
}

type Options = Parameters<typeof parseArgs>[0] extends infer C
  ? C extends { options?: infer O }
    ? O
    : never
  : never;

function parse(args: readonly string[], options: Options) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

// Flags are only parsed here; each command applies its own defaults, in one place.

function optionalWholeNumber(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value === '' || !Number.isSafeInteger(n) || n < 0)
    throw new UsageError(`${flag} must be a whole number >= 0, got "${String(value)}".`);
  return n;
}

function optionalPositiveInt(flag: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive whole number, got "${String(value)}".`);
  return n;
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError || error instanceof FloeConfigError) {
    process.stderr.write(`floe: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
