import type { ChatInputCommandInteraction } from 'discord.js';
import type { Logger } from 'pino';
import type { ProgressObserver } from '../services/GenerationService';
import type { VideoRequestRow } from '../services/RequestTrackingService';
import { progressEmbed, type Phase } from './messages';

/**
 * The live progress embed of a `/video` reply: edited when the phase changes and on a ticker while Veo works, never
 * more often than `minIntervalMs` (Discord rate-limits edits, and nobody reads faster).
 */
export class LiveProgress implements ProgressObserver {
  private phase: Phase = 'queued';
  private row: VideoRequestRow | undefined;
  private lastEditAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private editing: Promise<unknown> = Promise.resolve();
  private stopped = false;

  public constructor(
    private readonly interaction: Pick<ChatInputCommandInteraction, 'editReply'>,
    private readonly startedAt: number,
    private readonly minIntervalMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  public async onPhase(phase: Phase, row: VideoRequestRow): Promise<void> {
    this.row = row;
    this.phase = phase;
    if (phase === 'delivering') {
      // The result replaces this embed; no progress edit may land after it.
      await this.stop();
      return;
    }
    this.edit(true);
    if (!this.timer) {
      this.timer = setInterval(() => this.edit(false), this.minIntervalMs);
      this.timer.unref();
    }
  }

  private edit(phaseChanged: boolean): void {
    if (this.stopped || !this.row) return;
    const now = this.now();
    if (!phaseChanged && now - this.lastEditAt < this.minIntervalMs) return;
    if (phaseChanged && now - this.lastEditAt < Math.min(1_000, this.minIntervalMs)) return;
    this.lastEditAt = now;
    const embed = progressEmbed(this.row, this.phase, now - this.startedAt);
    this.editing = this.editing
      .then(() =>
        this.stopped ? undefined : this.interaction.editReply({ embeds: [embed], allowedMentions: { parse: [] } }),
      )
      .catch((error) => this.logger.debug({ err: error }, 'progress edit failed'));
  }

  public onEnd(): Promise<void> {
    return this.stop();
  }

  public async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.editing;
  }
}
