// The CDK app of cdk.json: one Floe job, chosen by context.
//
//   npx cdk synth                                   # examples/bids-per-auction.ts on MSK with IAM
//   npx cdk deploy -c job=jobs/my-job.ts -c source=self-managed -c auth=sasl-scram-512 \
//     --parameters BootstrapServers=b1:9096,b2:9096 --parameters Topic=orders --parameters AuthSecretArn=arn:...
//
// Context: job (the job module), source (msk | self-managed), auth (iam | sasl-scram-512 for
// MSK; none | sasl-scram-512 | sasl-scram-256 | plain | mtls for self-managed), stack (the stack
// name; default Floe-<job file name>), nag (false skips the cdk-nag AwsSolutions checks).
import { basename, extname } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { type FloeAuthKind, FloeJobStack, type FloeSourceKind } from './floe-job-stack.ts';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === null ? undefined : String(value);
};
const jobFile = context('job') ?? 'examples/bids-per-auction.ts';
const stackName =
  context('stack') ?? `Floe-${basename(jobFile, extname(jobFile)).replace(/[^A-Za-z0-9-]/g, '-')}`;

new FloeJobStack(app, stackName, {
  jobFile,
  source: context('source') as FloeSourceKind | undefined,
  auth: context('auth') as FloeAuthKind | undefined,
  description: `Floe job from ${jobFile}`,
});

if (context('nag') !== 'false') {
  const { AwsSolutionsChecks } = await import('cdk-nag');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
app.synth();
