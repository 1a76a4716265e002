import { ApplyOptions } from '@sapphire/decorators';
import { Events, Listener, type ChatInputCommandDeniedPayload, type UserError } from '@sapphire/framework';
import { MessageFlags } from 'discord.js';

/** Sapphire says nothing when a precondition refuses a command; the user deserves the reason. */
@ApplyOptions<Listener.Options>({ event: Events.ChatInputCommandDenied })
export class ChatInputCommandDeniedListener extends Listener<typeof Events.ChatInputCommandDenied> {
  public override async run(error: UserError, { interaction }: ChatInputCommandDeniedPayload) {
    const content = error.message || 'You cannot use this command here.';
    const payload = { content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
    if (interaction.deferred || interaction.replied) return interaction.followUp(payload);
    return interaction.reply(payload);
  }
}
