/** Lambda entry points for Floe jobs. */
export { createHandler, type HandlerOptions, type KafkaHandler } from './handler.ts';
export { jsonLogger, type Logger, type LogLevel } from './logger.ts';
export { createTicker, type TickerHandler, type TickerOptions } from './ticker.ts';
