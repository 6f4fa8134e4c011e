/**
 * A bundled handler in Lambda's Runtime Interface Emulator (RIE): the RIE runs
 * `node scripts/lambda-bootstrap.mjs <bundle>` as the function's runtime, on loopback addresses and
 * free ports only (its default is 0.0.0.0:8080), and takes invocations over HTTP as Lambda's
 * Invoke API does. `scripts/local-lambda install` builds the RIE once per user.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The package root: one folder up in a source checkout (cli/), two in the package (dist/cli/).
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT =
  [resolve(HERE, '..'), resolve(HERE, '..', '..')].find((dir) =>
    existsSync(join(dir, 'scripts', 'local-lambda')),
  ) ?? resolve(HERE, '..');
const LOCAL_LAMBDA = join(ROOT, 'scripts', 'local-lambda');
const BOOTSTRAP = join(ROOT, 'scripts', 'lambda-bootstrap.mjs');

export interface EmulatorOptions {
  /** The bundle: an ES module exporting `handler`. */
  readonly bundle: string;
  /**
   * The function's environment variables (the RIE hands its own environment to the function).
   * Its stores come from here: FLOE_RUN_DIR now, the AWS variables once the handler reads them.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Node.js for the runtime. @default the running one */
  readonly node?: string;
  /** Invocation time limit, seconds. @default 60 */
  readonly timeoutSeconds?: number;
}

export interface Invocation {
  /** HTTP status of the invoke. */
  readonly status: number;
  /** The handler's result, or Lambda's error object ({ errorType, errorMessage, stackTrace }). */
  readonly body: unknown;
  /** True when the handler threw (the body is the error). */
  readonly failed: boolean;
  /** What the RIE and the function printed during the invocation (the function's logs). */
  readonly logs: string;
  /** Wall time of the HTTP invoke, ms. */
  readonly ms: number;
}

export interface LambdaEmulator {
  /** The invoke endpoint, http://127.0.0.1:<port>/2015-03-31/functions/function/invocations */
  readonly url: string;
  invoke(event: unknown): Promise<Invocation>;
  /** The runtime's init duration as the RIE reports it (INIT REPORT), once the first invoke ran. */
  readonly initMs: number | undefined;
  /** Everything printed so far. */
  readonly output: string;
  stop(): Promise<void>;
}

/** Installs the RIE if needed (a `go install`, once per user) and returns its path. */
export async function installRie(): Promise<string> {
  if (!existsSync(LOCAL_LAMBDA)) {
    throw new Error(
      `The Lambda emulator needs ${LOCAL_LAMBDA}, which is part of a Floe checkout or package.`,
    );
  }
  try {
    const { stdout } = await promisify(execFile)('bash', [LOCAL_LAMBDA, 'install'], {
      maxBuffer: 1 << 20,
      timeout: 20 * 60_000,
    });
    return stdout.trim().split('\n').pop()!;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(
      `Installing the Lambda Runtime Interface Emulator failed: ${e.stderr?.trim() || e.message}`,
    );
  }
}

/** Starts the RIE with the bundle, on 127.0.0.1 and free ports, and waits until it takes invocations. */
export async function startEmulator(options: EmulatorOptions): Promise<LambdaEmulator> {
  const rie = await installRie();
  let lastError: unknown;
  // Ports are picked free and bound a moment later by the RIE: another process may take one in
  // between, and then the RIE exits; the next attempt picks others.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [port, apiPort] = [await freePort(), await freePort()];
    try {
      return await launch(rie, port, apiPort, options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function launch(
  rie: string,
  port: number,
  apiPort: number,
  options: EmulatorOptions,
): Promise<LambdaEmulator> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    TZ: 'UTC',
    AWS_LAMBDA_FUNCTION_NAME: 'floe-emulated',
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(options.timeoutSeconds ?? 60),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const child: ChildProcess = spawn(
    rie,
    [
      '--runtime-interface-emulator-address',
      `127.0.0.1:${port}`,
      '--runtime-api-address',
      `127.0.0.1:${apiPort}`,
      options.node ?? process.execPath,
      BOOTSTRAP,
      resolve(options.bundle),
    ],
    // Its own process group: stop() ends the RIE and the runtime it started, nothing else.
    { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  let exited = false;
  const exit = new Promise<void>((resolveExit) => {
    child.once('exit', () => {
      exited = true;
      resolveExit();
    });
  });

  const stop = async () => {
    if (exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    await Promise.race([exit, sleep(5_000)]);
    if (!exited) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
      await exit;
    }
  };

  const started = Date.now();
  while (!(await accepts(port))) {
    if (exited || Date.now() - started > 15_000) {
      await stop();
      throw new Error(`The Lambda emulator did not start on 127.0.0.1:${port}:\n${output.slice(-2_000)}`);
    }
    await sleep(50);
  }

  const url = `http://127.0.0.1:${port}/2015-03-31/functions/function/invocations`;
  return {
    url,
    get initMs() {
      const match = /INIT REPORT\(durationMs: ([\d.]+)\)/.exec(output);
      return match ? Number(match[1]) : undefined;
    },
    get output() {
      return output;
    },
    async invoke(event) {
      const from = output.length;
      const t0 = performance.now();
      const response = await fetch(url, { method: 'POST', body: JSON.stringify(event) });
      const text = await response.text();
      const ms = performance.now() - t0;
      // The RIE prints END and REPORT before it answers; let the pipe deliver them.
      for (let i = 0; i < 40 && !/REPORT RequestId/.test(output.slice(from)); i++) await sleep(25);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      const failed =
        response.status !== 200 ||
        (typeof body === 'object' && body !== null && 'errorType' in body && 'errorMessage' in body);
      return { status: response.status, body, failed, logs: output.slice(from), ms };
    },
    stop,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolveAccepts) => {
    const socket = new Socket();
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolveAccepts(true);
    });
    socket.once('error', () => resolveAccepts(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolveAccepts(false);
    });
    socket.connect(port, '127.0.0.1');
  });
}

/** The function's JSON log lines among the emulator's output (the RIE's own lines are not JSON). */
export function jsonLogLines(logs: string): Record<string, unknown>[] {
  return logs.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}
