import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type ChatInputCommandErrorPayload } from '@sapphire/framework';
import { DiscordAPIError, MessageFlags } from 'discord.js';

/**
 * 40060: another instance acknowledged this interaction first (every gateway session on a shard receives it);
 * 10062: the interaction expired. Neither can be answered, and neither is this instance's failure.
 */
const NOT_OURS = new Set([40060, 10062]);

/** A command that throws gets a plain apology instead of Discord's "The application did not respond". */
@ApplyOptions<Listener.Options>({ event: Events.ChatInputCommandError })
export class ChatInputCommandErrorListener extends Listener<typeof Events.ChatInputCommandError> {
  public override async run(error: unknown, { interaction, command }: ChatInputCommandErrorPayload) {
    if (error instanceof DiscordAPIError && NOT_OURS.has(Number(error.code))) {
      this.container.pino.debug(
        { command: command.name, code: error.code },
        'interaction answered elsewhere or expired; nothing to do',
      );
      return;
    }
    this.container.pino.error({ err: error, command: command.name }, 'command failed');
    const content =
      'Something went wrong on the bot side. Nothing was charged for a request that did not start; try again.';
    const payload = { content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
    try {
      if (interaction.deferred || interaction.replied) await interaction.followUp(payload);
      else await interaction.reply(payload);
    } catch (replyError) {
      this.container.pino.warn({ err: replyError }, 'could not tell the user about a command error');
    }
  }
}
