import type { APIEmbed, Message } from 'discord.js';
import type { Logger } from 'pino';
import { interactionExpiresAt, isTokenGone, tokenUsable } from './interactionToken';

/** The parts of a deferred command interaction a LiveReply uses. */
export interface DeferredInteraction {
  createdAt: Date;
  editReply(options: { embeds: APIEmbed[]; allowedMentions: { parse: [] } }): Promise<unknown>;
  channel: { isSendable(): boolean; send?: unknown } | null;
}

/**
 * A message that outlives its interaction token: shown in the command's reply while the token works, and continued in
 * a channel message once the token is near its end or refused (a long `/resume run`). Never pings.
 */
export class LiveReply {
  private channelMessage: Message | undefined;
  private tokenGone = false;

  public constructor(
    private readonly interaction: DeferredInteraction,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  public async show(embed: APIEmbed): Promise<void> {
    const payload = { embeds: [embed], allowedMentions: { parse: [] as [] } };
    if (!this.tokenGone && tokenUsable(interactionExpiresAt(this.interaction.createdAt), this.now())) {
      try {
        await this.interaction.editReply(payload);
        return;
      } catch (error) {
        // The token can die before our own estimate says so (clock skew, a slow start): continue in the channel.
        if (!isTokenGone(error)) throw error;
        this.logger.info(
          { code: error.code },
          'the interaction token is no longer usable; continuing in a channel message',
        );
      }
    }
    this.tokenGone = true;
    if (this.channelMessage) {
      await this.channelMessage.edit(payload);
      return;
    }
    const channel = this.interaction.channel as {
      isSendable(): boolean;
      send(p: typeof payload): Promise<Message>;
    } | null;
    if (channel?.isSendable()) this.channelMessage = await channel.send(payload);
  }
}
