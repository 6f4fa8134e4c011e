/**
 * A Nexmark bid, as the examples read it from Kafka: one JSON object per record, keyed by
 * auction. `dateTime` is the event time in epoch milliseconds.
 */
export interface Bid {
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly channel: string;
  readonly url: string;
  readonly dateTime: number;
  readonly extra: string;
}

/** The examples' out-of-orderness bound: a bid may arrive up to 5 s behind the newest one. */
export const BID_OUT_OF_ORDERNESS_MS = 5_000;
