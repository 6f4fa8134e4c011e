/**
 * The arithmetic of `npm run bench -- --aws` (bench/aws.ts), apart from the servers so that it can
 * be tested alone: DynamoDB item sizes and write units, the injected latency model, and a probe
 * that counts what the AWS SDK clients send (requests per API, payload bytes, write units,
 * sequential round trips and the time spent waiting on them).
 *
 * Item sizes follow DynamoDB's rules ("Item sizes and formats" in its developer guide): an
 * attribute is its name's UTF-8 length plus its value's size; a string is its UTF-8 length, a
 * binary its length, a number 1 byte per two significant digits plus 1, a boolean or null 1 byte,
 * a map or list 3 bytes plus 1 per element plus the elements (a map's with their names). A write
 * costs ceil(item bytes / 1 KB) write units, at least one.
 */
import { mulberry32 } from '../runtime/seeded-random.ts';

/** A DynamoDB attribute value as the SDK's commands carry it (structurally: only adapters/aws imports the SDK). */
export interface AttributeValue {
  readonly S?: string;
  readonly N?: string;
  readonly B?: Uint8Array | string;
  readonly BOOL?: boolean;
  readonly NULL?: boolean;
  readonly SS?: readonly string[];
  readonly NS?: readonly string[];
  readonly BS?: readonly (Uint8Array | string)[];
  readonly L?: readonly AttributeValue[];
  readonly M?: Readonly<Record<string, AttributeValue>>;
}

const utf8 = new TextEncoder();

function textBytes(text: string): number {
  return utf8.encode(text).byteLength;
}

/** Bytes of a number as DynamoDB stores it: 1 per two significant digits, plus 1. */
export function numberBytes(text: string): number {
  const digits = text
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

function binaryBytes(value: Uint8Array | string): number {
  return typeof value === 'string' ? Buffer.from(value, 'base64').byteLength : value.byteLength;
}

/** The size of one attribute value (without its name). */
export function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return textBytes(value.S);
  if (value.N !== undefined) return numberBytes(value.N);
  if (value.B !== undefined) return binaryBytes(value.B);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + textBytes(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + binaryBytes(b), 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  if (value.M !== undefined) {
    return (
      3 + Object.entries(value.M).reduce((sum, [name, v]) => sum + 1 + textBytes(name) + valueBytes(v), 0)
    );
  }
  return 0;
}

/** The size of an item: every attribute's name and value. */
export function itemBytes(item: Readonly<Record<string, AttributeValue>> | undefined): number {
  if (item === undefined) return 0;
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += textBytes(name) + valueBytes(value);
  return bytes;
}

/** Write units of one standard write of an item this big: ceil(bytes / 1 KB), at least 1. */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

/**
 * The item an UpdateItem leaves, when its answer does not return it: the key plus every value it
 * sets (`SET #a = :x, b = :y`), names resolved. Attributes the update leaves alone are not
 * counted, so this is a lower bound; the stores' own updates return the new item
 * (`ReturnValues: ALL_NEW`) where it matters (the heads).
 */
export function updatedItemBytes(input: {
  readonly Key?: Record<string, AttributeValue>;
  readonly UpdateExpression?: string;
  readonly ExpressionAttributeNames?: Record<string, string>;
  readonly ExpressionAttributeValues?: Record<string, AttributeValue>;
}): number {
  let bytes = itemBytes(input.Key);
  const set = /\bSET\s+(.*?)(?=\s+\b(?:REMOVE|ADD|DELETE)\b|$)/i.exec(input.UpdateExpression ?? '');
  if (set === null) return bytes;
  for (const assignment of set[1]!.split(',')) {
    const m = /^\s*(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)\s*$/.exec(assignment);
    if (m === null) continue;
    const name = m[1]!.startsWith('#') ? (input.ExpressionAttributeNames?.[m[1]!] ?? m[1]!) : m[1]!;
    const value = input.ExpressionAttributeValues?.[m[2]!];
    if (value !== undefined) bytes += textBytes(name) + valueBytes(value);
  }
  return bytes;
}

/** Injected latency per request: uniform in [min, max] ms, seeded. */
export interface LatencyModel {
  readonly minMs: number;
  readonly maxMs: number;
}

export const DEFAULT_LATENCY: { readonly dynamodb: LatencyModel; readonly s3: LatencyModel } = {
  dynamodb: { minMs: 5, maxMs: 10 },
  s3: { minMs: 15, maxMs: 25 },
};

/** A seeded sampler of a latency model. */
export function latencySampler(model: LatencyModel, seed: number): () => number {
  const random = mulberry32(seed);
  return () => model.minMs + random() * (model.maxMs - model.minMs);
}

/** What the probe counts per API, e.g. `s3.PutObject`, `dynamodb.UpdateItem`. */
export interface ApiCounts {
  requests: number;
  /** Payload bytes sent: object bodies, written items. */
  bytesOut: number;
  /** Payload bytes received: object bodies, items read. */
  bytesIn: number;
  /** DynamoDB write units (writes only). */
  writeUnits: number;
}

export interface ProbeCounts {
  readonly apis: Record<string, ApiCounts>;
  readonly requests: number;
  readonly bytesOut: number;
  readonly bytesIn: number;
  readonly writeUnits: number;
  /** Sequential round trips of SDK calls: the waits with no other call in flight. */
  readonly roundTrips: number;
  /** Time with at least one SDK call in flight (injected latency and the local server's time). */
  readonly waitMs: number;
}

type Next = (args: unknown) => Promise<unknown>;
interface HandlerContext {
  readonly commandName?: string;
}
interface MiddlewareStack {
  add(
    middleware: (next: Next, context: HandlerContext) => Next,
    options: { step: 'initialize' | 'finalizeRequest'; name: string; priority?: 'high' | 'low' },
  ): void;
}

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

/** Payload bytes and write units of one SDK call, from its input and output. */
export function measureCall(
  service: 'dynamodb' | 's3',
  command: string,
  input: Input,
  output: Output | undefined,
): { bytesOut: number; bytesIn: number; writeUnits: number } {
  if (service === 's3') {
    const body = input.Body;
    const bytesOut =
      body instanceof Uint8Array ? body.byteLength : typeof body === 'string' ? textBytes(body) : 0;
    const length = output?.ContentLength;
    const bytesIn = command === 'GetObject' && typeof length === 'number' ? length : 0;
    return { bytesOut, bytesIn, writeUnits: 0 };
  }
  const attributes = output?.Attributes as Record<string, AttributeValue> | undefined;
  switch (command) {
    case 'PutItem': {
      const bytes = itemBytes(input.Item as Record<string, AttributeValue>);
      return { bytesOut: bytes, bytesIn: 0, writeUnits: writeUnits(Math.max(bytes, itemBytes(attributes))) };
    }
    case 'UpdateItem': {
      // With ReturnValues ALL_NEW the answer is the item as written; else estimate it.
      const returned = input.ReturnValues === 'ALL_NEW' ? itemBytes(attributes) : 0;
      const bytes = returned > 0 ? returned : updatedItemBytes(input as never);
      return { bytesOut: bytes, bytesIn: 0, writeUnits: writeUnits(bytes) };
    }
    case 'DeleteItem':
      return { bytesOut: 0, bytesIn: 0, writeUnits: writeUnits(itemBytes(attributes)) };
    case 'GetItem':
      return {
        bytesOut: 0,
        bytesIn: itemBytes(output?.Item as Record<string, AttributeValue>),
        writeUnits: 0,
      };
    case 'Query':
    case 'Scan': {
      const items = (output?.Items as Record<string, AttributeValue>[] | undefined) ?? [];
      return { bytesOut: 0, bytesIn: items.reduce((sum, item) => sum + itemBytes(item), 0), writeUnits: 0 };
    }
    default:
      return { bytesOut: 0, bytesIn: 0, writeUnits: 0 };
  }
}

/**
 * Counts the calls of SDK clients and injects the latency model into each try of each call
 * (before it is sent, as the round-trip test does: calls sent together overlap).
 */
export class AwsProbe {
  private apis: Record<string, ApiCounts> = {};
  private roundTrips = 0;
  private inFlight = 0;
  private waitMs = 0;
  private busySince = 0;

  attach<C extends { middlewareStack: unknown }>(
    client: C,
    service: 'dynamodb' | 's3',
    latency: () => number,
  ): C {
    const stack = client.middlewareStack as MiddlewareStack;
    stack.add(
      (next) => async (args) => {
        await new Promise((resolve) => setTimeout(resolve, latency()));
        return next(args);
      },
      { step: 'finalizeRequest', name: 'floeBenchLatency' },
    );
    stack.add(
      (next, context) => async (args) => {
        const command = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        const counts = this.count(`${service}.${command}`);
        counts.requests++;
        if (this.inFlight++ === 0) {
          this.roundTrips++;
          this.busySince = performance.now();
        }
        let output: Output | undefined;
        try {
          const result = (await next(args)) as { output?: Output };
          output = result.output;
          return result;
        } finally {
          if (--this.inFlight === 0) this.waitMs += performance.now() - this.busySince;
          const measured = measureCall(service, command, (args as { input: Input }).input, output);
          counts.bytesOut += measured.bytesOut;
          counts.bytesIn += measured.bytesIn;
          counts.writeUnits += measured.writeUnits;
        }
      },
      { step: 'initialize', name: 'floeBenchProbe', priority: 'high' },
    );
    return client;
  }

  /** Counts since the probe was made or last taken, and starts afresh. */
  take(): ProbeCounts {
    const apis: Record<string, ApiCounts> = {};
    let requests = 0;
    let bytesOut = 0;
    let bytesIn = 0;
    let units = 0;
    for (const name of Object.keys(this.apis).sort()) {
      const c = this.apis[name]!;
      apis[name] = { ...c };
      requests += c.requests;
      bytesOut += c.bytesOut;
      bytesIn += c.bytesIn;
      units += c.writeUnits;
    }
    const counts = {
      apis,
      requests,
      bytesOut,
      bytesIn,
      writeUnits: units,
      roundTrips: this.roundTrips,
      waitMs: this.waitMs,
    };
    this.apis = {};
    this.roundTrips = 0;
    this.waitMs = 0;
    return counts;
  }

  private count(name: string): ApiCounts {
    let counts = this.apis[name];
    if (counts === undefined) {
      counts = { requests: 0, bytesOut: 0, bytesIn: 0, writeUnits: 0 };
      this.apis[name] = counts;
    }
    return counts;
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, v) => sum + v, 0) / values.length;
}
