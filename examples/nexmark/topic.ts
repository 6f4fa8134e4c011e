import {
  type ProducerRecord,
  produceToTopic,
  type TopicLog,
} from '../../runtime/event-source-mapping/event-builder.ts';
import type { Bid } from './bid.ts';

/** The bids as a JSON producer keyed by auction would write them to a topic (the examples' input). */
export function bidTopic(bids: Iterable<Bid>, partitions: number, topic = 'bids'): TopicLog {
  return produceToTopic(bidRecords(bids), { topic, partitions });
}

/** A bid as the examples' producer sends it: keyed by auction, JSON value, CREATE_TIME = event time. */
export function bidRecord(bid: Bid): ProducerRecord {
  return { key: String(bid.auction), value: JSON.stringify(bid), timestamp: bid.dateTime };
}

function* bidRecords(bids: Iterable<Bid>): Generator<ProducerRecord> {
  for (const bid of bids) yield bidRecord(bid);
}
