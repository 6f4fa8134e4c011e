/**
 * vitest globalSetup: a local Kafka broker for the tests that need one, started lazily.
 *
 * Most test files never talk to Kafka, and a broker is a JVM of about 350 MB that takes seconds
 * to start, so this setup starts nothing. It hands the tests what they need to start it
 * (`provide('localKafka', ...)`): the first test that calls `kafkaBrokers()` (./local-kafka.ts)
 * runs `scripts/local-kafka start` with a lease for this vitest process; the script's lock makes
 * concurrent workers share one broker, so it starts once per run. On teardown
 * `scripts/local-kafka release` stops it if this run started it and no other live run uses it.
 *
 * With KAFKA_BROKERS already set (a broker from `eval "$(scripts/local-kafka start)"`, or any
 * other), tests use that one and nothing is started or stopped.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { LocalKafkaContext } from './local-kafka.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'local-kafka');
const RELEASE_TIMEOUT_MS = 60_000;

export default function setup(project: TestProject): () => Promise<void> {
  const lease = process.pid;
  const context: LocalKafkaContext = {
    brokers: process.env.KAFKA_BROKERS || undefined,
    script: SCRIPT,
    lease,
  };
  project.provide('localKafka', context);
  return async () => {
    // Only a run whose tests started (or reused) the broker holds a lease.
    if (!existsSync(join(ROOT, '.local-kafka', 'leases', String(lease)))) return;
    await new Promise<void>((resolve) => {
      const child = spawn('bash', [SCRIPT, 'release', String(lease)], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const timer = setTimeout(() => child.kill('SIGTERM'), RELEASE_TIMEOUT_MS);
      child.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      child.on('error', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
}
