// A minimal Node.js runtime for Lambda's Runtime API, for a bundled ES module that exports
// `handler` (cli/bundle.ts). The Runtime Interface Emulator (scripts/local-lambda) starts it as the
// function's bootstrap: `node scripts/lambda-bootstrap.mjs <bundle.mjs>`.
//
// The loop Lambda's own runtimes run (docs: "Using the Lambda runtime API for custom runtimes"):
//   import the handler; on failure POST /2018-06-01/runtime/init/error and exit;
//   then forever: GET /2018-06-01/runtime/invocation/next (blocks until an invocation),
//   call the handler with the event and a context, and POST .../invocation/<id>/response with its
//   result, or .../invocation/<id>/error with the error.
// Only what a Kafka or scheduled handler needs: no streaming responses, no client context.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const bundle = process.argv[2] ?? process.env._HANDLER;
const base = `http://${api}/2018-06-01/runtime`;

if (!api || !bundle) {
  console.error('lambda-bootstrap: needs AWS_LAMBDA_RUNTIME_API and a bundle path (argument or _HANDLER)');
  process.exit(2);
}

function errorBody(error) {
  const e = error instanceof Error ? error : new Error(String(error));
  return JSON.stringify({
    errorType: e.name,
    errorMessage: e.message,
    stackTrace: (e.stack ?? '')
      .split('\n')
      .slice(1)
      .map((line) => line.trim()),
  });
}

async function post(path, body, headers = {}) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  await response.arrayBuffer();
  if (!response.ok && response.status !== 202) {
    console.error(`lambda-bootstrap: POST ${path} answered ${response.status}`);
  }
}

let handler;
try {
  const module = await import(pathToFileURL(resolve(bundle)).href);
  handler = module.handler;
  if (typeof handler !== 'function') {
    throw new TypeError(`${bundle} does not export a function named handler`);
  }
} catch (error) {
  console.error(error);
  await post('/init/error', errorBody(error), {
    'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError',
  });
  process.exit(1);
}

for (;;) {
  const next = await fetch(`${base}/invocation/next`);
  const requestId = next.headers.get('lambda-runtime-aws-request-id');
  const deadline = Number(next.headers.get('lambda-runtime-deadline-ms') ?? Date.now() + 900_000);
  const traceId = next.headers.get('lambda-runtime-trace-id');
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  const text = await next.text();
  const context = {
    awsRequestId: requestId,
    invokedFunctionArn: next.headers.get('lambda-runtime-invoked-function-arn'),
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const event = text === '' ? {} : JSON.parse(text);
    const result = await handler(event, context);
    await post(`/invocation/${requestId}/response`, JSON.stringify(result ?? null));
  } catch (error) {
    console.error(error);
    await post(`/invocation/${requestId}/error`, errorBody(error), {
      'Lambda-Runtime-Function-Error-Type': 'Runtime.HandlerError',
    });
  }
}
