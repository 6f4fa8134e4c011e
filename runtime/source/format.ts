/**
 * A ValueFormat turns the base64 bytes Lambda delivers into a typed value.
 *
 * Formats are a union keyed on `type` (as in Powertools' Kafka consumer), so that a job's
 * configuration names exactly one decoding and the decoded type flows to every later operator.
 * `decode` receives the base64 text itself: each format picks its cheapest path (JSON decodes
 * base64 straight to a string, Avro to a Buffer).
 */
export interface FormatBase<T> {
  readonly type: string;
  /**
   * Decodes one value. Throws (any error) when the bytes are not valid for this format; the
   * engine turns that record into a dead letter with the error's message as the reason.
   */
  decode(base64: string): T;
  /**
   * Decodes one value given as text, the UTF-8 decoding of its bytes (records `floe run` reads
   * from a file carry it, see VALUE_TEXT), for formats that read text: the same result as
   * `decode` of its base64, without the round trip.
   */
  decodeText?(text: string): T;
  /** Human-readable description for logs, e.g. `Json` or `ConfluentAvro(ids: 1, 2)`. */
  toString(): string;
}
