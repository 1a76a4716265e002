export * from './emulator';
export { type Clock, OffsetClock, SnowflakeFactory, snowflakeTime } from './clock';
export type { GatewaySession, GatewayDispatch } from './gateway';
export * from './world';
