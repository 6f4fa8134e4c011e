/**
 * The local Kafka broker for tests (scripts/local-kafka), started on first use: see
 * ./local-kafka-setup.ts. `await kafkaBrokers()` returns `127.0.0.1:<port>` and sets
 * KAFKA_BROKERS in process.env for child processes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** What the global setup hands to the tests. */
export interface LocalKafkaContext {
  /** Brokers given from outside (KAFKA_BROKERS when vitest started): used as they are. */
  readonly brokers: string | undefined;
  /** scripts/local-kafka. */
  readonly script: string;
  /** The vitest process id, the lease a start takes. */
  readonly lease: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    localKafka: LocalKafkaContext;
  }
}

/** The first install resolves Kafka with Maven (about a minute); a start takes 5-20 s. */
const START_TIMEOUT_MS = 10 * 60_000;

let started: Promise<string> | undefined;

/** The broker address, starting the local broker on first use. */
export function kafkaBrokers(): Promise<string> {
  started ??= start();
  return started;
}

async function start(): Promise<string> {
  const context = inject('localKafka');
  if (!context) {
    throw new Error('no local Kafka context: run the tests with this project vitest.config.ts (globalSetup)');
  }
  if (context.brokers !== undefined) {
    process.env.KAFKA_BROKERS = context.brokers;
    return context.brokers;
  }
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [context.script, 'start'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FLOE_LOCAL_KAFKA_LEASE: String(context.lease) },
    });
    let out = '';
    // Kept as well as shown: a failure's reason goes into the error, which survives a CI log cut to its tail.
    let messages = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      messages += chunk;
      process.stderr.write(chunk);
    });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`scripts/local-kafka start took longer than ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `scripts/local-kafka start failed (${signal ?? `exit ${code}`}). It needs java >= 17 and mvn (first install). Its last messages:\n${lastLines(messages, 25)}`,
          ),
        );
    });
  });
  const brokers = /^export KAFKA_BROKERS=(\S+)$/m.exec(stdout)?.[1];
  if (brokers === undefined) throw new Error(`scripts/local-kafka start printed no KAFKA_BROKERS: ${stdout}`);
  process.env.KAFKA_BROKERS = brokers;
  return brokers;
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/** A topic name no other test uses. */
export function uniqueTopic(prefix = 't'): string {
  return `${prefix}-${Date.now().toString(36)}-${process.pid.toString(36)}-${randomBytes(3).toString('hex')}`;
}
