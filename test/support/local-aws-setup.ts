/**
 * vitest globalSetup: the local AWS-protocol servers for the whole run.
 *
 * Runs `scripts/local-aws start` (which installs moto and versitygw on first use: that takes
 * minutes, and its progress shows on stderr), hands the endpoints to tests through
 * `provide('localAws', ...)` (read them with `localAws()` from ./local-aws.ts) and sets the same
 * AWS_* variables in process.env for child processes.
 *
 * The start takes a lease for this vitest process. On teardown `scripts/local-aws release` stops
 * the servers only if a test run started them and no other live test run still uses them; servers
 * that a person started (`eval "$(scripts/local-aws start)"`) are reused and left running.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { LocalAwsEnv } from './local-aws.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/local-aws', import.meta.url));
/** The first install builds versitygw (2-10 minutes on a small machine) and installs moto. */
const START_TIMEOUT_MS = 20 * 60_000;
const STOP_TIMEOUT_MS = 60_000;

function log(message: string): void {
  process.stderr.write(`[local-aws] ${message}\n`);
}

/** Runs scripts/local-aws; its stderr (progress) goes to ours; resolves with its stdout. */
function runScript(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`scripts/local-aws ${args.join(' ')} took longer than ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(
            `scripts/local-aws ${args.join(' ')} failed (${signal ?? `exit ${code}`}); see its messages above. ` +
              'It needs python3 >= 3.10 with venv and go >= 1.21 (first install), and access to PyPI and the Go module proxy.',
          ),
        );
    });
  });
}

/** Parses `export NAME=value` lines. */
export function parseExports(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return vars;
}

function required(vars: Record<string, string>, name: string): string {
  const value = vars[name];
  if (!value) throw new Error(`scripts/local-aws start did not export ${name}`);
  return value;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const began = Date.now();
  log('starting DynamoDB/Glue (moto) and S3 (versitygw) on loopback; the first run installs them (minutes)');
  const lease = String(process.pid);
  const stdout = await runScript(['start'], START_TIMEOUT_MS, {
    ...process.env,
    FLOE_LOCAL_AWS_LEASE: lease,
  });
  const vars = parseExports(stdout);
  const env: LocalAwsEnv = {
    dynamodbEndpoint: required(vars, 'AWS_ENDPOINT_URL_DYNAMODB'),
    s3Endpoint: required(vars, 'AWS_ENDPOINT_URL_S3'),
    glueEndpoint: required(vars, 'AWS_ENDPOINT_URL_GLUE'),
    region: required(vars, 'AWS_REGION'),
    accessKeyId: required(vars, 'AWS_ACCESS_KEY_ID'),
    secretAccessKey: required(vars, 'AWS_SECRET_ACCESS_KEY'),
  };
  Object.assign(process.env, vars);
  project.provide('localAws', env);
  log(
    `ready in ${((Date.now() - began) / 1000).toFixed(1)} s: DynamoDB/Glue ${env.dynamodbEndpoint}, S3 ${env.s3Endpoint}`,
  );

  return async () => {
    await runScript(['release', lease], STOP_TIMEOUT_MS);
  };
}
