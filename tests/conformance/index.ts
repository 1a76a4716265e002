// Conformance of recorded emulator traffic with the services' published specifications (issue #12): what the bot
// sent to the Discord and Google emulators, checked against Discord's OpenAPI document and Google's discovery
// documents. End-to-end tests call TrafficWatch.assertConforming at teardown; README.md explains the rules.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DiscordEmulator, RecordedCall } from '../emulators/discord';
import type { GoogleEmulator, RequestRecord } from '../emulators/google';
import { DiscordConformance } from './discord';
import { GoogleConformance } from './google';
import { preview } from './schema';
import type { Violation } from './types';

export { DISCORD_QUIRKS, DiscordConformance, commandRuleIssues } from './discord';
export { GOOGLE_QUIRKS, GoogleConformance } from './google';
export type { Quirk, Violation } from './types';

let discordChecker: DiscordConformance | undefined;
let googleChecker: GoogleConformance | undefined;
/** Loaded once per process (a test file): the Discord document is 1.2 MB. */
export const discordConformance = (): DiscordConformance => (discordChecker ??= new DiscordConformance());
export const googleConformance = (): GoogleConformance => (googleChecker ??= new GoogleConformance());

export class ConformanceError extends Error {
  constructor(readonly violations: Violation[]) {
    super(formatViolations(violations));
    this.name = 'ConformanceError';
  }
}

/** One line per distinct (route, field, message), with how often and the first request and test it came from. */
export function formatViolations(violations: readonly Violation[]): string {
  const groups = new Map<string, { v: Violation; count: number }>();
  for (const v of violations) {
    const key = `${v.route}\u0000${v.field}\u0000${v.message}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { v, count: 1 });
  }
  const lines = [...groups.values()].map(({ v, count }) => {
    const field = v.field ? ` field ${v.field}:` : '';
    const sent = 'sent' in v && v.sent !== undefined ? ` (sent ${preview(v.sent)})` : '';
    const times = count > 1 ? ` ×${count}` : '';
    const test = v.test ? ` in test "${v.test}"` : '';
    return `  [${v.service}] ${v.route} —${field} ${v.message}${sent}${times}; first: ${v.request}${test}`;
  });
  return `${violations.length} violation(s) of the published API specifications (tests/conformance/README.md):\n${lines.join('\n')}`;
}

function currentTest(): string | undefined {
  try {
    return typeof expect === 'function' ? expect.getState().currentTestName : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Watches the emulators of one test world: remembers which test was running when each request arrived, and keeps
 * Discord calls that `DiscordEmulator.reset()` would otherwise drop, so teardown checks everything the bot sent.
 */
export class TrafficWatch {
  private readonly tests = new WeakMap<object, string>();
  private readonly earlierDiscord: RecordedCall[] = [];
  private discord?: DiscordEmulator;
  private google?: GoogleEmulator;

  watchDiscord(emu: DiscordEmulator): this {
    this.discord = emu;
    this.tag(emu.calls);
    const reset = emu.reset.bind(emu);
    emu.reset = () => {
      this.earlierDiscord.push(...emu.calls);
      reset();
    };
    return this;
  }

  watchGoogle(emu: GoogleEmulator): this {
    this.google = emu;
    this.tag(emu.requests);
    return this;
  }

  private tag<T extends object>(list: T[]): void {
    const push = list.push.bind(list);
    list.push = (...items: T[]) => {
      const test = currentTest();
      if (test) for (const item of items) this.tests.set(item, test);
      return push(...items);
    };
  }

  readonly testOf = (request: object): string | undefined => this.tests.get(request);

  /** How many requests check() looks at: Discord calls and Google requests. */
  get counts(): { discord: number; google: number } {
    return {
      discord: this.earlierDiscord.length + (this.discord?.calls.length ?? 0),
      google: this.google?.requests.length ?? 0,
    };
  }

  check(): Violation[] {
    const calls = this.discord ? [...this.earlierDiscord, ...this.discord.calls] : [];
    return checkTraffic({ discord: calls, google: this.google?.requests ?? [], testOf: this.testOf });
  }

  /** Throws a ConformanceError naming every violation (and writes them to $CONFORMANCE_REPORT_DIR when set). */
  assertConforming(): void {
    assertConformingTraffic([this]);
  }
}

/** Checks several watches (e.g. every world of a test file) and throws one ConformanceError naming all violations. */
export function assertConformingTraffic(watches: readonly TrafficWatch[]): void {
  if (watches.length === 0) return;
  const started = Date.now();
  const violations = watches.flatMap((w) => w.check());
  const checked = { discord: 0, google: 0 };
  for (const w of watches) {
    checked.discord += w.counts.discord;
    checked.google += w.counts.google;
  }
  reportToDir(violations, Date.now() - started, checked);
  if (violations.length) throw new ConformanceError(violations);
}

export function checkTraffic(traffic: {
  discord?: readonly RecordedCall[];
  google?: readonly RequestRecord[];
  testOf?: (request: object) => string | undefined;
}): Violation[] {
  const out: Violation[] = [];
  if (traffic.discord?.length) out.push(...discordConformance().check(traffic.discord, traffic.testOf));
  if (traffic.google?.length) out.push(...googleConformance().check(traffic.google, traffic.testOf));
  return out;
}

/**
 * CONFORMANCE_REPORT_DIR=dir: each checked world appends its violations, the check's duration and how many requests
 * it looked at to dir/<test file>.jsonl, so a whole suite's findings can be read in one place.
 */
function reportToDir(violations: Violation[], ms: number, checked?: { discord: number; google: number }): void {
  const dir = process.env.CONFORMANCE_REPORT_DIR;
  if (!dir) return;
  let file: string;
  try {
    file = basename(expect.getState().testPath ?? 'unknown');
  } catch {
    file = basename(process.argv[1] ?? 'unknown');
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${file}.jsonl`), `${JSON.stringify({ ms, checked, violations })}\n`, { flag: 'a' });
}

/**
 * For runners outside jest (sandbox/run.ts, chaos/run.ts): when VEOBOT_CONFORMANCE_REPORT names a file, watches the
 * emulators and `write()` puts the violations there as JSON (their end-to-end tests read it); otherwise does nothing.
 */
export function conformanceReportFile(
  discord: DiscordEmulator,
  google: GoogleEmulator,
  file = process.env.VEOBOT_CONFORMANCE_REPORT,
): { write(): void } {
  if (!file) return { write: () => undefined };
  const watch = new TrafficWatch().watchDiscord(discord).watchGoogle(google);
  return { write: () => writeFileSync(file, JSON.stringify(watch.check(), null, 2)) };
}

/** Reads what conformanceReportFile wrote and throws a ConformanceError if it lists any violation. */
export function assertConformingReport(file: string): void {
  if (!existsSync(file))
    throw new Error(`no conformance report at ${file}: did the run set VEOBOT_CONFORMANCE_REPORT?`);
  const violations = JSON.parse(readFileSync(file, 'utf8')) as Violation[];
  reportToDir(violations, 0);
  if (violations.length) throw new ConformanceError(violations);
}
