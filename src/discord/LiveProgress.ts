import type { APIEmbed } from 'discord.js';
import type { Logger } from 'pino';
import type { Phase, ProgressObserver } from '../domain/ports';
import type { VideoRequestRow } from '../domain/request';
import type { QueueInfo } from '../domain/spend';
import { progressEmbed } from './embeds';
import { ThrottledEditor } from './ThrottledEditor';

/**
 * The live progress embed of a `/video` reply: shown when the phase changes and refreshed on a ticker while Veo works,
 * through one ThrottledEditor (at most one edit every `minIntervalMs`), and never after the result.
 */
export class LiveProgress implements ProgressObserver {
  private phase: Phase = 'queued';
  private queue: QueueInfo | undefined;
  private row: VideoRequestRow | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly editor: ThrottledEditor<APIEmbed>;

  public constructor(
    reply: { editReply(options: { embeds: APIEmbed[]; allowedMentions: { parse: [] } }): Promise<unknown> },
    private readonly startedAt: number,
    private readonly minIntervalMs: number,
    logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.editor = new ThrottledEditor(
      (embed) => reply.editReply({ embeds: [embed], allowedMentions: { parse: [] } }),
      minIntervalMs,
      (error) => logger.debug({ err: error }, 'progress edit failed'),
      now,
    );
  }

  public async onPhase(phase: Phase, row: VideoRequestRow, queue?: QueueInfo): Promise<void> {
    this.row = row;
    this.phase = phase;
    this.queue = phase === 'queued' ? queue : undefined;
    if (phase === 'delivering') {
      // The result replaces this embed; no progress edit may land after it.
      await this.stop();
      return;
    }
    this.refresh();
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.minIntervalMs);
      this.timer.unref();
    }
  }

  private refresh(): void {
    if (this.row) this.editor.push(progressEmbed(this.row, this.phase, this.now() - this.startedAt, this.queue));
  }

  /**
   * The ticker's refresh. While queued, the embed changes when the request's place does (onPhase), not every tick:
   * hundreds may wait in a burst, and each tick would be one more edit per request for nothing new.
   */
  private tick(): void {
    if (this.phase !== 'queued') this.refresh();
  }

  public onEnd(): Promise<void> {
    return this.stop();
  }

  public async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.editor.stop();
  }
}
