/** Time source of the emulator: interaction-token ages, nonce windows and record timestamps use it. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Moves this clock forward (tests use it to expire interaction tokens or nonce windows without waiting). */
  advance(ms: number): void;
}

/** Real time plus an offset that `advance` grows. */
export class OffsetClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

const DISCORD_EPOCH = 1420070400000n;

/** Monotonic snowflakes (19 digits for present-day times) stamped with the emulator clock. */
export class SnowflakeFactory {
  private last = 0n;
  constructor(private readonly clock: Clock) {}
  next(): string {
    let id = ((BigInt(Math.floor(this.clock.now())) - DISCORD_EPOCH) << 22n) | (1n << 17n);
    if (id <= this.last) id = this.last + 1n;
    this.last = id;
    return id.toString();
  }
}

export const snowflakeTime = (id: string): number => Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
