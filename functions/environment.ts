/**
 * The environment variables a deployed Floe function reads its stores and settings from, in one
 * place: the handler and the ticker read them, the CDK construct (lib/floe-job.ts) sets them. A
 * pure module, so both sides import it without pulling anything in.
 */
import { FloeConfigError } from '../runtime/errors.ts';
import type { LogLevel } from './logger.ts';

export const FloeEnvironment = {
  stateTable: 'FLOE_STATE_TABLE',
  catalogTable: 'FLOE_CATALOG_TABLE',
  bucket: 'FLOE_BUCKET',
  prefix: 'FLOE_PREFIX',
  /** `none`, `gzip` or `zstd`: checkpoint manifests and state objects in the AWS stores. */
  checkpointCompression: 'FLOE_CHECKPOINT_COMPRESSION',
  /** Checkpoint manifests kept per commit group (the processor's `keepCheckpoints`). */
  keepCheckpoints: 'FLOE_KEEP_CHECKPOINTS',
  /** Tries of a commit group's batch within one invocation (the processor's `maxAttempts`). */
  maxAttempts: 'FLOE_MAX_ATTEMPTS',
  /** Milliseconds between publish rounds (the processor's `publishIntervalMs`; 0 publishes every commit). */
  publishIntervalMs: 'FLOE_PUBLISH_INTERVAL_MS',
  /** `exactly-once`, the only delivery mode so far. */
  delivery: 'FLOE_DELIVERY',
  /** The lowest level logged: `DEBUG`, `INFO`, `WARN`, `ERROR`. */
  logLevel: 'FLOE_LOG_LEVEL',
  /**
   * `on` (the default) or `off`: whether a job whose windows merge partitions takes batches
   * through partition logs (the processor's `partitionLogs`). The handler and the ticker of one
   * job must agree, so both read it here.
   */
  partitionLogs: 'FLOE_PARTITION_LOGS',
  /**
   * With partition logs: the least time between two consumes of the logs, in ms (the processor's
   * `consumeIntervalMs`, default 0). Above 0, deploy the ticker.
   */
  consumeIntervalMs: 'FLOE_CONSUME_INTERVAL_MS',
} as const;

export type Env = Readonly<Record<string, string | undefined>>;

/** The settings of a Floe function read from its environment; unset ones are undefined (the processor's defaults). */
export interface FloeSettings {
  readonly keepCheckpoints?: number;
  readonly maxAttempts?: number;
  readonly publishIntervalMs?: number;
  readonly logLevel?: LogLevel;
  /** Partition logs for jobs whose windows merge partitions; on unless FLOE_PARTITION_LOGS is `off`. */
  readonly partitionLogs: boolean;
  readonly consumeIntervalMs?: number;
}

const LOG_LEVELS: readonly string[] = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

/**
 * Reads and checks the settings: a wrong value fails the cold start with a message naming the
 * variable, rather than a batch. `FLOE_DELIVERY` may only be `exactly-once`: at-least-once would
 * write a batch's rows without the head's compare-and-swap, so a retried or concurrent batch
 * could publish its rows twice; it is not offered yet (docs/design.md, "CDK").
 */
export function settingsFromEnv(env: Env): FloeSettings {
  const delivery = env[FloeEnvironment.delivery];
  if (delivery !== undefined && delivery !== '' && delivery !== 'exactly-once') {
    throw new FloeConfigError(
      `${FloeEnvironment.delivery} must be exactly-once, got "${delivery}": at-least-once delivery is not implemented yet.`,
    );
  }
  const logLevel = env[FloeEnvironment.logLevel];
  if (logLevel !== undefined && logLevel !== '' && !LOG_LEVELS.includes(logLevel)) {
    throw new FloeConfigError(
      `${FloeEnvironment.logLevel} must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}".`,
    );
  }
  const logs = env[FloeEnvironment.partitionLogs];
  if (logs !== undefined && logs !== '' && logs !== 'on' && logs !== 'off') {
    throw new FloeConfigError(`${FloeEnvironment.partitionLogs} must be on or off, got "${logs}".`);
  }
  return {
    partitionLogs: logs !== 'off',
    consumeIntervalMs: wholeNumber(env, FloeEnvironment.consumeIntervalMs),
    keepCheckpoints: positiveInteger(env, FloeEnvironment.keepCheckpoints),
    maxAttempts: positiveInteger(env, FloeEnvironment.maxAttempts),
    publishIntervalMs: wholeNumber(env, FloeEnvironment.publishIntervalMs),
    logLevel: logLevel === undefined || logLevel === '' ? undefined : (logLevel as LogLevel),
  };
}

function positiveInteger(env: Env, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new FloeConfigError(`${name} must be a positive integer, got "${text}".`);
  }
  return value;
}

function wholeNumber(env: Env, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new FloeConfigError(`${name} must be a whole number of milliseconds (0 or more), got "${text}".`);
  }
  return value;
}

/**
 * The processor options for partition logs from the environment, for the local commands that
 * must behave as the deployed functions (`floe invoke`, `floe tick`).
 */
export function partitionLogSettings(env: Env = process.env): {
  readonly partitionLogs: boolean;
  readonly consumeIntervalMs?: number;
} {
  const { partitionLogs, consumeIntervalMs } = settingsFromEnv(env);
  return consumeIntervalMs === undefined ? { partitionLogs } : { partitionLogs, consumeIntervalMs };
}
