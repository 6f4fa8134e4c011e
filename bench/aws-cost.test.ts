import { describe, expect, it } from 'vitest';
import {
  AwsProbe,
  itemBytes,
  latencySampler,
  measureCall,
  median,
  numberBytes,
  updatedItemBytes,
  writeUnits,
} from './aws-cost.ts';

describe('DynamoDB item sizes and write units', () => {
  it('counts names and values as DynamoDB does', () => {
    expect(numberBytes('7')).toBe(2);
    expect(numberBytes('1700000000000')).toBe(2); // "17" after trimming zeros
    expect(numberBytes('-12345.6')).toBe(4);
    const item = {
      pk: { S: 'job#x' }, // 2 + 5
      sk: { S: 'héad' }, // 2 + 5 (é is 2 bytes)
      bytes: { B: new Uint8Array(1_000) }, // 5 + 1000
      deleted: { BOOL: false }, // 7 + 1
      value: { M: { a: { N: '42' }, l: { L: [{ S: 'x' }, { NULL: true }] } } }, // 5 + 3 + (1+1+2) + (1+1+(3+2+2))
    };
    expect(itemBytes(item)).toBe(7 + 7 + 1005 + 8 + 5 + 3 + 4 + 9);
  });

  it('charges ceil(bytes / 1 KB) write units, at least one', () => {
    expect(writeUnits(0)).toBe(1);
    expect(writeUnits(1_024)).toBe(1);
    expect(writeUnits(1_025)).toBe(2);
    expect(writeUnits(8_192)).toBe(8);
  });

  it('estimates the item an UpdateItem leaves from its key and SET values', () => {
    const bytes = updatedItemBytes({
      Key: { pk: { S: 'p' }, sk: { S: 's' } },
      UpdateExpression: 'SET #location = :next, v = :v REMOVE old',
      ExpressionAttributeNames: { '#location': 'metadata_location' },
      ExpressionAttributeValues: { ':next': { S: 'x'.repeat(100) }, ':v': { S: 'abc' } },
    });
    expect(bytes).toBe(3 + 3 + 17 + 100 + 1 + 3);
  });

  it('takes write units from the written item, or the one an UpdateItem returns', () => {
    const big = { pk: { S: 'p' }, bytes: { B: new Uint8Array(3_000) } };
    expect(measureCall('dynamodb', 'PutItem', { Item: big }, {})).toEqual({
      bytesOut: 3_008,
      bytesIn: 0,
      writeUnits: 3,
    });
    expect(
      measureCall('dynamodb', 'UpdateItem', { ReturnValues: 'ALL_NEW' }, { Attributes: big }).writeUnits,
    ).toBe(3);
    expect(measureCall('s3', 'PutObject', { Body: new Uint8Array(10) }, {}).bytesOut).toBe(10);
    expect(measureCall('s3', 'GetObject', {}, { ContentLength: 7 }).bytesIn).toBe(7);
  });
});

describe('the probe and the latency model', () => {
  it('draws a reproducible latency within the model', () => {
    const a = latencySampler({ minMs: 5, maxMs: 10 }, 3);
    const b = latencySampler({ minMs: 5, maxMs: 10 }, 3);
    const draws = Array.from({ length: 100 }, () => a());
    expect(draws).toEqual(Array.from({ length: 100 }, () => b()));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...draws)).toBeLessThanOrEqual(10);
  });

  it('counts calls sent together as one round trip', async () => {
    type Middleware = (next: (args: unknown) => Promise<unknown>, context: object) => typeof next;
    const added: { step: string; middleware: Middleware }[] = [];
    const client = {
      middlewareStack: {
        add: (middleware: Middleware, options: { step: string }) => added.push({ ...options, middleware }),
      },
    };
    const probe = new AwsProbe();
    probe.attach(client, 'dynamodb', () => 1);
    const initialize = added.find((m) => m.step === 'initialize')!.middleware;
    const send = (command: string) =>
      initialize(async () => ({ output: {} }), { commandName: `${command}Command` })({
        input: { Item: { pk: { S: 'p' } } },
      });
    await Promise.all([send('PutItem'), send('PutItem')]);
    await send('GetItem');
    const counts = probe.take();
    expect(counts.roundTrips).toBe(2);
    expect(counts.requests).toBe(3);
    expect(counts.apis['dynamodb.PutItem']).toEqual({ requests: 2, bytesOut: 6, bytesIn: 0, writeUnits: 2 });
    expect(probe.take().requests).toBe(0);
  });

  it('takes the median of an even count as the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, 1, 3])).toBe(3);
  });
});
