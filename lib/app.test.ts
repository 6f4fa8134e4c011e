import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'floe-cdk-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** `npx cdk synth` as a user runs it: the real CLI, cdk.json's app, no AWS account, no network. */
async function cdkSynth(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('npx', ['cdk', 'synth', '--no-notices', '--output', out, ...args], {
    cwd: root,
    env: {
      ...process.env,
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      // No credentials and no region: synth must not need them.
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: '',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

describe('npx cdk synth (cdk.json)', () => {
  it('synthesizes the default example: processor, mapping and parameters, cdk-nag passing', async () => {
    const { stdout } = await cdkSynth();
    expect(stdout).toContain('Type: AWS::Lambda::Function');
    expect(stdout).toContain('Runtime: nodejs24.x');
    expect(stdout).toContain('Type: AWS::Lambda::EventSourceMapping');
    for (const parameter of [
      'Topic:',
      'ClusterArn:',
      'BatchSize:',
      'StartingPosition:',
      'ConsumerGroupId:',
      'Delivery:',
    ]) {
      expect(stdout).toContain(`\n  ${parameter}`);
    }
    const template = JSON.parse(readFileSync(join(out, 'Floe-bids-per-auction.template.json'), 'utf8'));
    expect(template.Parameters.ConsumerGroupId.Default).toBe('floe-bids-per-auction');
  });

  it('deploys another job on self-managed Kafka by context', async () => {
    await cdkSynth(
      '-c',
      'job=examples/hot-items.ts',
      '-c',
      'source=self-managed',
      '-c',
      'auth=sasl-scram-512',
    );
    const template = JSON.parse(readFileSync(join(out, 'Floe-hot-items.template.json'), 'utf8'));
    expect(Object.keys(template.Parameters)).toEqual(
      expect.arrayContaining(['BootstrapServers', 'AuthSecretArn', 'Topic']),
    );
    expect(template.Parameters.ClusterArn).toBeUndefined();
    expect(template.Parameters.ConsumerGroupId.Default).toBe('floe-hot-items');
  });
});
