/**
 * The local servers (scripts/local-aws) behave as Floe's stores need: S3 conditional create
 * (If-None-Match: *) and ListObjectsV2 pagination on versitygw; DynamoDB conditional writes on
 * moto, atomic under concurrent writers because moto serves one request at a time.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { localAws } from '../support/local-aws.ts';

const aws = localAws();

describe('S3 on versitygw', () => {
  const s3 = new S3Client(aws.s3Config);
  const bucket = aws.uniqueName('servers');
  const keys: string[] = [];

  afterAll(async () => {
    for (const key of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    s3.destroy();
  });

  it('creates a bucket, and PutObject with IfNoneMatch * creates once then fails with 412', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const key = 'commits/00000001.json';
    keys.push(key);
    const first = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first', IfNoneMatch: '*' }),
    );
    expect(first.ETag).toBeTruthy();

    const second = await s3
      .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'second', IfNoneMatch: '*' }))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(second).toBeInstanceOf(S3ServiceException);
    expect((second as S3ServiceException).name).toBe('PreconditionFailed');
    expect((second as S3ServiceException).$metadata.httpStatusCode).toBe(412);

    const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await body.Body?.transformToString()).toBe('first');
  });

  it('paginates ListObjectsV2 with MaxKeys and continuation tokens, in key order', async () => {
    const written = Array.from({ length: 7 }, (_, i) => `page/${String(i).padStart(3, '0')}`);
    for (const key of written) {
      keys.push(key);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    }
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: 'page/', MaxKeys: 3, ContinuationToken: token }),
      );
      pages.push((page.Contents ?? []).map((o) => o.Key!));
      expect(page.IsTruncated).toBe(page.NextContinuationToken !== undefined);
      token = page.NextContinuationToken;
    } while (token !== undefined && pages.length < 10);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(written);
  });
});

describe('DynamoDB on moto (one request at a time)', () => {
  const ddb = new DynamoDBClient(aws.dynamodbConfig);
  const table = aws.uniqueName('servers');

  afterAll(async () => {
    await ddb.send(new DeleteTableCommand({ TableName: table }));
    ddb.destroy();
  });

  it('creates a pk/sk table, and a conditional PutItem succeeds once', async () => {
    const created = await ddb.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    expect(created.TableDescription?.TableStatus).toBe('ACTIVE');

    const put = (owner: string) =>
      ddb.send(
        new PutItemCommand({
          TableName: table,
          Item: { pk: { S: 'lease' }, sk: { S: 'job' }, owner: { S: owner } },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    await put('first');
    await expect(put('second')).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const item = await ddb.send(
      new GetItemCommand({
        TableName: table,
        Key: { pk: { S: 'lease' }, sk: { S: 'job' } },
        ConsistentRead: true,
      }),
    );
    expect(item.Item?.owner?.S).toBe('first');
  });

  it('20 concurrent conditional UpdateItems on one version attribute: exactly one wins', async () => {
    const key = { pk: { S: 'checkpoint' }, sk: { S: 'job' } };
    await ddb.send(new PutItemCommand({ TableName: table, Item: { ...key, version: { N: '0' } } }));
    const writers = Array.from({ length: 20 }, (_, i) => `writer-${i}`);
    const outcomes = await Promise.allSettled(
      writers.map((writer) =>
        ddb.send(
          new UpdateItemCommand({
            TableName: table,
            Key: key,
            UpdateExpression: 'SET #v = :next, #w = :writer',
            ConditionExpression: '#v = :expected',
            ExpressionAttributeNames: { '#v': 'version', '#w': 'writer' },
            ExpressionAttributeValues: {
              ':expected': { N: '0' },
              ':next': { N: '1' },
              ':writer': { S: writer },
            },
          }),
        ),
      ),
    );
    const winners = writers.filter((_, i) => outcomes[i]!.status === 'fulfilled');
    const losers = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(19);
    for (const loser of losers) expect(loser.reason).toBeInstanceOf(ConditionalCheckFailedException);

    const item = await ddb.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
    expect(item.Item?.version?.N).toBe('1');
    expect(item.Item?.writer?.S).toBe(winners[0]);
  });
});
