import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FloeConfigError } from '../runtime/errors.ts';
import { permanentStorageError } from '../runtime/stores/object-store.ts';
import type { KafkaFlags } from './kafka-run.ts';
import { STORE_FLAGS, STORE_FLAGS_USAGE, storeFlags } from './stores.ts';
import { UsageError } from './usage-error.ts';

const COMMAND_USAGE = {
  demo: `Usage: floe demo [options]   (npm start)

Run the Nexmark examples on generated bids, through floe run's code, into Iceberg tables.
The --dir is wiped at the start of each demo.

Options:
  --bids N                           Bids to generate (default 20000)
  --partitions N                     Partitions of the topic (default 4)
  --batch-size B                     Records per Lambda event (default 500)
  --seed S                           Seed of the bid generator (default 42)
  --dir DIR                          Where the bids and the tables go (default .floe/demo)
  -h, --help                         Show this help`,
  run: `Usage: floe run <job.ts> --input <file.jsonl> [options]

Run a job over a JSON lines file (one JSON object per line) read as a Kafka topic, exactly once,
into Iceberg tables. Restartable: after a crash or Ctrl-C the same command resumes.

Options:
  --input FILE                       The JSON lines file (required)
  --key FIELD                        The Kafka key (picks the partition; default: none, round-robin)
  --partitions N                     Partitions of the topic (default 1)
  --batch-size B                     The most records per Lambda event, 1 to 10000 (default: as many as
                                     fit Lambda's 6 MB; one partition an event for a job keyed by
                                     the Kafka key, whose partitions run concurrently)
  --timestamp FIELD                  Record timestamps from a field (default: the file's mtime)
  --topic NAME                       Topic name (default: the file's base name)
  --dir DIR                          Run directory (default .floe/run/<job name>)
  --keep-checkpoints N               Checkpoint manifests kept per commit group (default 10)
  --publish-interval MS              Publish committed rows to the tables every MS milliseconds
                                     while running (default 10000; 0: after every batch); the run
                                     always publishes at its end, also when stopped
  --fail-on-dead-letters             Exit with status 1 when any record became a dead letter
  --no-typecheck                     Run the job without type-checking it first
  --json                             Print the summary as JSON
  -h, --help                         Show this help

Stores (default: the run directory); endpoints, region and credentials as the AWS SDK reads them:
${STORE_FLAGS_USAGE}

Against a Kafka broker instead of a file, as Lambda's event source mapping would:
  floe run <job.ts> --kafka <brokers> --topic <topic> [options]
  --kafka BROKERS                    Bootstrap servers, host:port[,host:port]
  --cluster-arn ARN                  Or an Amazon MSK cluster: its plaintext bootstrap brokers (TLS, SASL
                                     and IAM authentication are not implemented in floe's Kafka client)
  --group G                          Consumer group whose offsets are read and committed (default floe-<job name>)
  --batch-size B                     Records per Lambda event, 1 to 10000 (default 100)
  --batching-window-ms W             Invoke with what arrived within W ms, 0 to 300000 (default 500)
  --stop-at-end                      Exit at the end offsets seen at the start
  --drain                            With --stop-at-end: then fire every open window`,
  invoke: `Usage: floe invoke <job.ts> --event <file.json> [options]

Run a job on a Lambda Kafka test event (MSK or self-managed) and print the rows, late records
and dead letters it committed.

Options:
  --event FILE                       The Lambda Kafka event, JSON (required)
  --dir DIR                          Where state and outputs go (default .floe/<job name>)
  --drain                            End the input: fire every open window
  --emulator                         Bundle the handler as Lambda runs it and invoke it in Lambda's
                                     Runtime Interface Emulator (scripts/local-lambda; needs Go once)
  --no-typecheck                     Run the job without type-checking it first
  --json                             Print the result as JSON
${STORE_FLAGS_USAGE}
  -h, --help                         Show this help`,
  tick: `Usage: floe tick <job.ts> [options]

What the ticker Lambda does on its schedule: partitions silent for the idleness timeout stop
holding the watermark, and the windows it passes fire (the job needs withIdleness).

Options:
  --dir DIR                          Run directory (default .floe/<job name>, as invoke)
  --now <ms|ISO>                     The tick's wall clock (default: now)
  --no-typecheck                     Run the job without type-checking it first
  --json                             Print the result as JSON
${STORE_FLAGS_USAGE}
  -h, --help                         Show this help`,
  doctor: `Usage: floe doctor <job.ts> --state dynamodb://TABLE --objects s3://BUCKET/PREFIX [options]

Check a deployment's pieces, one line each (ok, FAIL with what to do, or skip): the job loads and
type-checks; the state and catalog tables exist with Floe's key schemas, TTL on the state table;
the bucket exists and takes a conditional create under the prefix (a probe object, deleted); the
MSK cluster is ACTIVE with bootstrap brokers, or the brokers answer; the topic exists and its
partitions; the job's commit groups with their last epoch and watermark. Changes nothing.
Exit status: 0 when every check passed, 1 when one failed, 2 for a usage error.

Options:
  --state dynamodb://TABLE           The state table (required)
  --objects s3://BUCKET/PREFIX       The bucket and prefix (required)
  --catalog dynamodb://TABLE         The Iceberg catalog table (default dynamodb://iceberg)
  --cluster-arn ARN                  An Amazon MSK cluster (kafka:DescribeClusterV2, GetBootstrapBrokers)
  --kafka BROKERS                    Or bootstrap servers, host:port[,host:port]
  --topic T                          The topic the job reads (with --cluster-arn or --kafka)
  --no-typecheck                     Load the job without type-checking it first
  --json                             Print {"ok", "checks": [{"check", "status", "detail"}]}
  -h, --help                         Show this help`,
  tables: `Usage: floe tables --dir DIR [--json]

List a run's Iceberg tables and their current metadata files.

Options:
  --dir DIR                          The run directory (required)
  --json                             Print JSON: [{"name", "metadataLocation"}]
  -h, --help                         Show this help`,
  produce: `Usage: floe produce --kafka <brokers> --topic <topic> (--input <file.jsonl> | --bids N) [options]

Write records to a Kafka topic, creating it with --partitions N if missing. Keys pick partitions
with Kafka's default partitioner, as floe run --input does.

Options:
  --kafka BROKERS                    Bootstrap servers, host:port[,host:port] (required)
  --topic T                          The topic (required)
  --input FILE                       A JSON lines file to write, one record per line
  --key FIELD                        The field whose value is the Kafka key (with --input)
  --timestamp FIELD                  Record timestamps from a field (with --input)
  --bids N                           Write N generated Nexmark bids instead (keyed by auction)
  --seed S                           Seed of the bid generator
  --partitions N                     Partitions of a topic created here (default 1)
  -h, --help                         Show this help`,
  events: `Usage: floe events --input <file.jsonl> --out <dir> [options]

Write Lambda Kafka test events (JSON files, as the event source mapping sends them) for floe
invoke and other local Lambda tools.

Options:
  --input FILE                       The JSON lines file (required)
  --out DIR                          Where the event files go (required)
  --topic T                          Topic name (default: the file's base name)
  --key FIELD                        The Kafka key (picks the partition)
  --partitions N                     Partitions of the topic (default 1)
  --batch-size B                     Records per event, 1 to 10000 (default 100)
  --per-partition                    One partition's records an event, as floe run cuts them for a job
                                     keyed by the Kafka key (default: the file's order, mixing
                                     partitions, as floe run cuts them for other jobs)
  --timestamp FIELD                  Record timestamps from a field (default: the file's mtime)
  --self-managed BROKERS             Self-managed Kafka events with these bootstrap servers (default: MSK)
  -h, --help                         Show this help`,
  query: `Usage: floe query "<SQL>" [--dir DIR] [--json]

Run SQL (DuckDB) over a run's Iceberg tables, named as in the catalog: each table reads exactly
the data files of its current snapshot. Example:
  floe query "select * from nexmark.hot_items order by window_end desc limit 5"

Options:
  --dir DIR                          The run directory (default: the only one in .floe/demo, .floe/run/*)
  --json                             One JSON object per row (JSON lines)
  -h, --help                         Show this help`,
  savepoint: `Usage: floe savepoint create <job.ts> (--dir D | --state ... --objects ...) --to <dir or s3://bucket/prefix> [--drain]
       floe savepoint list <dir or s3://bucket/prefix>
       floe savepoint restore <savepoint> <job.ts> (--dir D | --state ... --objects ...) [--allow-non-restored-state]

Savepoints, as Flink's: a self-contained copy of a job's committed offsets, watermarks and window
state, and a new job started from one.

  create    Save the committed state of the job in --dir (or on DynamoDB and S3) as a new folder
            savepoint-<job>-<time>-<id> in --to. Consistent per commit group while the job runs.
  list      The savepoints in a location: time, job, records and offsets.
  restore   Start the job from a savepoint in a new, empty --dir (or new stores): offsets and
            watermarks as saved, window state matched by operator id (.uid(name) on the job;
            default <job name>.window). The job's tables start empty.

Options:
  --dir DIR                          The job's run directory
  --to LOCATION                      create: a directory or s3://bucket/prefix for the savepoint
  --drain                            create: first fire every open window and commit that
  --allow-non-restored-state         restore: drop saved state of operators the job no longer has
  --no-typecheck                     Load the job without type-checking it first
  --json                             Print the result as JSON
${STORE_FLAGS_USAGE}
  -h, --help                         Show this help`,
  init: `Usage: floe init <dir> [--floe SPEC]

Create a project that uses Floe: package.json, tsconfig.json, a job, sample input, a test of the
job and a README with the commands. The directory must be new or empty.

Options:
  --floe SPEC                        The floe dependency's npm spec (default: file: + this Floe's folder)
  -h, --help                         Show this help`,
} as const;

const USAGE = `Usage: floe <command> [options]

Commands:
  demo                               Run the Nexmark examples on generated bids (npm start)
  run <job.ts> --input <file.jsonl>  Run a job over a JSON lines file read as a Kafka topic, exactly once,
                                     into Iceberg tables; restartable after a crash or Ctrl-C
  invoke <job.ts> --event <file>     Run a job on a Lambda Kafka test event and print the results
  run <job.ts> --kafka <brokers> --topic <t>  The same against a Kafka topic, as Lambda's event source mapping would
  produce --kafka <brokers> --topic <t>  Write a JSON lines file or generated bids to a topic
  events --input <file.jsonl> --out <dir>  Write Lambda Kafka test events for floe invoke
  tick <job.ts>                      Fire what idle partitions no longer hold back, as the ticker Lambda does
  doctor <job.ts> --state ... --objects ...  Check a deployment: job, tables, bucket, MSK cluster, topic, commits
  query "<SQL>"                      SQL (DuckDB) over a run's Iceberg tables, named as in the catalog
  tables --dir DIR                   List a run's Iceberg tables and their current metadata files
  savepoint create|list|restore      Save a job's state to a directory or S3, and start a job from it
  init <dir>                         Create a project with a job, sample input and a test, using Floe
  help [command]                     Show this help, or a command's

Options:
  -h, --help                         Show this help; floe <command> --help shows a command's
  -v, --version                      Print floe's version`;

/** The version in floe's package.json. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

const write = (text: string) => process.stdout.write(`${text}\n`);

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
      write(USAGE);
      return;
    case 'help': {
      const topic = rest[0];
      if (topic !== undefined && !isCommand(topic))
        throw new UsageError(
          `Unknown command "${topic}". Commands: demo, run, produce, events, invoke, tick, doctor, query, tables, savepoint, init, help.`,
        );
      write(topic === undefined ? USAGE : COMMAND_USAGE[topic]);
      return;
    }
    case '--version':
    case '-v':
      write(version());
      return;
    case 'invoke': {
      const { values, positionals } = parse('invoke', rest, {
        event: { type: 'string' },
        dir: { type: 'string' },
        drain: { type: 'boolean' },
        emulator: { type: 'boolean' },
        json: { type: 'boolean' },
        'no-typecheck': { type: 'boolean' },
        ...STORE_FLAGS,
      });
      if (positionals.length !== 1)
        throw new UsageError(
          'invoke takes exactly one job file, e.g. floe invoke examples/bids-per-auction.ts --event examples/events/msk-bids.json',
        );
      if (typeof values.event !== 'string')
        throw new UsageError('invoke needs --event <file.json>, a Lambda Kafka event.');
      const { invoke } = await import('./invoke.ts');
      await invoke(
        {
          jobPath: positionals[0]!,
          eventPath: values.event,
          dir: values.dir as string | undefined,
          drain: values.drain === true,
          emulator: values.emulator === true,
          json: values.json === true,
          typecheck: values['no-typecheck'] !== true,
          stores: storeFlags(values),
        },
        write,
      );
      return;
    }
    case 'run': {
      const { values, positionals } = parse('run', rest, {
        input: { type: 'string' },
        key: { type: 'string' },
        partitions: { type: 'string' },
        'batch-size': { type: 'string' },
        timestamp: { type: 'string' },
        topic: { type: 'string' },
        dir: { type: 'string' },
        'keep-checkpoints': { type: 'string' },
        'publish-interval': { type: 'string' },
        'fail-on-dead-letters': { type: 'boolean' },
        'no-typecheck': { type: 'boolean' },
        json: { type: 'boolean' },
        ...KAFKA_RUN_FLAGS,
        ...STORE_FLAGS,
      });
      if (positionals.length !== 1)
        throw new UsageError(
          'run takes exactly one job file, e.g. floe run examples/bids-per-auction.ts --input bids.jsonl --key auction',
        );
      const kafka = kafkaFlags(values);
      if (typeof values.input !== 'string' && kafka === undefined)
        throw new UsageError(
          'run needs --input <file.jsonl>, a JSON lines file (one record per line), or --kafka <brokers> (or --cluster-arn <arn>) --topic <topic>.',
        );
      const input = (values.input as string | undefined) ?? '';
      if (kafka === undefined) await startReadingEarly(input);
      const { run } = await import('./run.ts');
      process.exitCode = await whileStoppable((signal) =>
        run(
          {
            jobPath: positionals[0]!,
            input,
            key: values.key as string | undefined,
            partitions: optionalPositiveInt('--partitions', values.partitions),
            batchSize: optionalPositiveInt('--batch-size', values['batch-size']),
            timestamp: values.timestamp as string | undefined,
            topic: values.topic as string | undefined,
            dir: values.dir as string | undefined,
            json: values.json === true,
            keepCheckpoints: optionalPositiveInt('--keep-checkpoints', values['keep-checkpoints']),
            publishIntervalMs: optionalWholeNumber('--publish-interval', values['publish-interval']),
            failOnDeadLetters: values['fail-on-dead-letters'] === true,
            typecheck: values['no-typecheck'] !== true,
            kafka,
            stores: storeFlags(values),
            signal,
          },
          write,
        ),
      );
      return;
    }
    case 'produce': {
      const { values, positionals } = parse('produce', rest, {
        kafka: { type: 'string' },
        topic: { type: 'string' },
        input: { type: 'string' },
        key: { type: 'string' },
        timestamp: { type: 'string' },
        bids: { type: 'string' },
        seed: { type: 'string' },
        partitions: { type: 'string' },
      });
      if (positionals.length > 0)
        throw new UsageError(`produce takes no arguments, got "${positionals.join(' ')}".`);
      const { produce } = await import('./produce.ts');
      await produce(
        {
          brokers: values.kafka as string | undefined,
          topic: values.topic as string | undefined,
          input: values.input as string | undefined,
          key: values.key as string | undefined,
          timestamp: values.timestamp as string | undefined,
          bids: optionalPositiveInt('--bids', values.bids),
          seed: optionalWholeNumber('--seed', values.seed),
          partitions: optionalPositiveInt('--partitions', values.partitions),
        },
        write,
      );
      return;
    }
    case 'events': {
      const { values, positionals } = parse('events', rest, {
        input: { type: 'string' },
        out: { type: 'string' },
        topic: { type: 'string' },
        key: { type: 'string' },
        partitions: { type: 'string' },
        'batch-size': { type: 'string' },
        'per-partition': { type: 'boolean' },
        timestamp: { type: 'string' },
        'self-managed': { type: 'string' },
      });
      if (positionals.length > 0)
        throw new UsageError(`events takes no arguments, got "${positionals.join(' ')}".`);
      const { events } = await import('./events.ts');
      await events(
        {
          input: values.input as string | undefined,
          out: values.out as string | undefined,
          topic: values.topic as string | undefined,
          key: values.key as string | undefined,
          partitions: optionalPositiveInt('--partitions', values.partitions),
          batchSize: optionalPositiveInt('--batch-size', values['batch-size']),
          perPartition: values['per-partition'] === true,
          timestamp: values.timestamp as string | undefined,
          selfManaged: values['self-managed'] as string | undefined,
        },
        write,
      );
      return;
    }
    case 'tick': {
      const { values, positionals } = parse('tick', rest, {
        ...STORE_FLAGS,
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
          stores: storeFlags(values),
        },
        write,
      );
      return;
    }
    case 'doctor': {
      const { values, positionals } = parse('doctor', rest, {
        ...STORE_FLAGS,
        'cluster-arn': { type: 'string' },
        kafka: { type: 'string' },
        topic: { type: 'string' },
        json: { type: 'boolean' },
        'no-typecheck': { type: 'boolean' },
      });
      if (positionals.length !== 1)
        throw new UsageError(
          'doctor takes exactly one job file, e.g. floe doctor jobs/orders.ts --state dynamodb://floe-state --objects s3://my-bucket/orders',
        );
      const { doctor } = await import('./doctor.ts');
      process.exitCode = await doctor(
        {
          jobPath: positionals[0]!,
          stores: storeFlags(values),
          clusterArn: values['cluster-arn'] as string | undefined,
          brokers: values.kafka as string | undefined,
          topic: values.topic as string | undefined,
          json: values.json === true,
          typecheck: values['no-typecheck'] !== true,
        },
        write,
      );
      return;
    }
    case 'tables': {
      const { values, positionals } = parse('tables', rest, {
        dir: { type: 'string' },
        json: { type: 'boolean' },
        ...STORE_FLAGS,
      });
      if (positionals.length > 0)
        throw new UsageError(`tables takes no arguments, got "${positionals.join(' ')}".`);
      const { tables } = await import('./tables.ts');
      await tables(
        { dir: values.dir as string | undefined, json: values.json === true, stores: storeFlags(values) },
        write,
      );
      return;
    }
    case 'query': {
      const { values, positionals } = parse('query', rest, {
        dir: { type: 'string' },
        json: { type: 'boolean' },
      });
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
    case 'savepoint':
      await savepoint(rest);
      return;
    case 'init': {
      const { values, positionals } = parse('init', rest, { floe: { type: 'string' } });
      if (positionals.length !== 1) throw new UsageError('init takes one directory, e.g. floe init my-jobs');
      const { init } = await import('./init.ts');
      await init({ dir: positionals[0]!, floe: values.floe as string | undefined }, write);
      return;
    }
    case 'demo': {
      const { values, positionals } = parse('demo', rest, {
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
        `Unknown command "${command}". Commands: demo, run, produce, events, invoke, tick, doctor, query, tables, savepoint, init, help.`,
      );
  }
}

/** `floe savepoint create|list|restore ...` (cli/savepoint.ts). */
async function savepoint(args: readonly string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h') throw new HelpRequested('savepoint');
  const common = { json: { type: 'boolean' }, 'no-typecheck': { type: 'boolean' } } as const;
  switch (sub) {
    case 'create': {
      const { values, positionals } = parse('savepoint', rest, {
        ...common,
        ...STORE_FLAGS,
        dir: { type: 'string' },
        to: { type: 'string' },
        drain: { type: 'boolean' },
      });
      if (positionals.length !== 1)
        throw new UsageError(
          'savepoint create takes exactly one job file, e.g. floe savepoint create jobs/revenue.ts --dir .floe/run/revenue --to savepoints',
        );
      if (typeof values.to !== 'string' || values.to === '')
        throw new UsageError(
          'savepoint create needs --to <dir or s3://bucket/prefix>, where the savepoint goes.',
        );
      const { createCommand } = await import('./savepoint.ts');
      await createCommand(
        {
          jobPath: positionals[0]!,
          dir: values.dir as string | undefined,
          stores: storeFlags(values),
          to: values.to,
          drain: values.drain === true,
          json: values.json === true,
          typecheck: values['no-typecheck'] !== true,
        },
        write,
      );
      return;
    }
    case 'list': {
      const { values, positionals } = parse('savepoint', rest, { json: { type: 'boolean' } });
      if (positionals.length !== 1)
        throw new UsageError('savepoint list takes one location, e.g. floe savepoint list savepoints');
      const { listCommand } = await import('./savepoint.ts');
      await listCommand({ location: positionals[0]!, json: values.json === true }, write);
      return;
    }
    case 'restore': {
      const { values, positionals } = parse('savepoint', rest, {
        ...common,
        ...STORE_FLAGS,
        dir: { type: 'string' },
        'allow-non-restored-state': { type: 'boolean' },
      });
      if (positionals.length !== 2)
        throw new UsageError(
          'savepoint restore takes a savepoint and a job file, e.g. floe savepoint restore savepoints/savepoint-revenue-... jobs/revenue.ts --dir .floe/run/revenue-2',
        );
      const { restoreCommand } = await import('./savepoint.ts');
      await restoreCommand(
        {
          savepoint: positionals[0]!,
          jobPath: positionals[1]!,
          dir: values.dir as string | undefined,
          stores: storeFlags(values),
          allowNonRestoredState: values['allow-non-restored-state'] === true,
          json: values.json === true,
          typecheck: values['no-typecheck'] !== true,
        },
        write,
      );
      return;
    }
    default:
      throw new UsageError(
        sub === undefined
          ? 'savepoint needs a subcommand: create, list or restore (see floe savepoint --help).'
          : `Unknown savepoint subcommand "${sub}": use create, list or restore (see floe savepoint --help).`,
      );
  }
}

/**
 * Runs a command that stops between batches on the first SIGINT (Ctrl-C) or SIGTERM. A second
 * one exits at once: the commit protocol is crash-safe, so that is a crash, and the next run
 * resumes from the last commit and removes what the stopped write left.
 */
async function whileStoppable<T>(command: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(
        `\nfloe: ${signal} again: stopped at once; the same command resumes from the last commit.\n`,
      );
      process.exit(130);
    }
    process.stderr.write(`\nfloe: ${signal}: stopping after the current batch (again to stop at once)\n`);
    controller.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await command(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

type Options = Parameters<typeof parseArgs>[0] extends infer C
  ? C extends { options?: infer O }
    ? O
    : never
  : never;

type Command = keyof typeof COMMAND_USAGE;

function isCommand(name: string): name is Command {
  return Object.hasOwn(COMMAND_USAGE, name);
}

/** Thrown by parse() for --help: main prints the command's usage and exits 0. */
class HelpRequested {
  constructor(readonly command: Command) {}
}

/** A command's flags, with -h/--help for every command; a mistake names the command's --help. */
function parse(command: Command, args: readonly string[], options: Options) {
  const withHelp = { ...options, help: { type: 'boolean', short: 'h' } } as Options;
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: Options; allowPositionals: true; strict: true }>
  >;
  try {
    parsed = parseArgs({ args: [...args], options: withHelp, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see floe ${command} --help)`);
  }
  if (parsed.values.help === true) throw new HelpRequested(command);
  return parsed;
}

// Flags are only parsed here; each command applies its own defaults, in one place.

/** The flags of `floe run --kafka` (cli/kafka-run.ts). */
const KAFKA_RUN_FLAGS = {
  kafka: { type: 'string' },
  'cluster-arn': { type: 'string' },
  group: { type: 'string' },
  'batching-window-ms': { type: 'string' },
  'stop-at-end': { type: 'boolean' },
  drain: { type: 'boolean' },
} as const;

function kafkaFlags(values: Record<string, unknown>): KafkaFlags | undefined {
  const clusterArn = values['cluster-arn'] as string | undefined;
  if (typeof values.kafka === 'string' && clusterArn !== undefined)
    throw new UsageError('--kafka and --cluster-arn both name the brokers: give one of them.');
  if (typeof values.kafka !== 'string' && clusterArn === undefined) {
    const only = ['group', 'batching-window-ms', 'stop-at-end', 'drain'].filter(
      (f) => values[f] !== undefined,
    );
    if (only.length > 0)
      throw new UsageError(`--${only[0]} is for a run against Kafka: give --kafka <brokers>.`);
    return undefined;
  }
  return {
    brokers: values.kafka as string | undefined,
    clusterArn,
    group: values.group as string | undefined,
    batchingWindowMs: optionalWholeNumber('--batching-window-ms', values['batching-window-ms']),
    stopAtEnd: values['stop-at-end'] === true,
    drain: values.drain === true,
  };
}

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
  if (error instanceof HelpRequested) {
    write(COMMAND_USAGE[error.command]);
    process.exit(0);
  }
  // A failure retrying cannot heal (permissions, a read-only or full disk): one line, no stack.
  const permanent = permanentStorageError(error);
  if (permanent !== undefined) {
    process.stderr.write(`floe: ${permanent.message}\n`);
    process.exit(2);
  }
  if (error instanceof UsageError || error instanceof FloeConfigError) {
    process.stderr.write(`floe: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

/**
 * Starts the input's reader thread before the job and the runner load (they take about 0.1 s,
 * and so does the thread's own start), when the input is one it would read.
 */
async function startReadingEarly(input: string): Promise<void> {
  let bytes: number;
  try {
    bytes = statSync(input).size;
  } catch {
    return; // the run says what is wrong with the input
  }
  const { readsInWorker, startReaderEarly } = await import('./jsonl-topic.ts');
  if (readsInWorker(bytes)) startReaderEarly();
}
