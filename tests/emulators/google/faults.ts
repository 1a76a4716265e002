// Injected faults (Fault in types.ts): each answers the next `times` requests of its route instead of the emulator.
import type { Fault, FaultRoute } from './types';

export class FaultBook {
  private faults: { fault: Fault; remaining: number }[] = [];

  public inject(fault: Fault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  public clear(): void {
    this.faults = [];
  }

  /** The first fault still armed for `route`, used up by one; undefined when none is. */
  public take(route: FaultRoute): Fault | undefined {
    const entry = this.faults.find((f) => f.fault.route === route && f.remaining > 0);
    if (!entry) return undefined;
    entry.remaining -= 1;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return entry.fault;
  }
}
