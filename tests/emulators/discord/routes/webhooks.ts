// Interaction responses: the callback, and the interaction webhook (`@original` and follow-ups). discord.js sends
// these without Authorization (auth: false). Docs: discord-api-docs developers/interactions/receiving-and-responding.mdx
// (Create Interaction Response, Edit/Delete Original Interaction Response, Create/Edit/Delete Followup Message).
import { MessageFlags } from 'discord-api-types/v10';
import { E, fail } from '../errors';
import type { Ctx } from '../router';
import type { StoredInteraction, StoredMessage } from '../types';
import { validateMessage } from '../validation/message';
import * as W from '../world';
import type { RouteDeps } from '.';

export function webhookRoutes({ router, world: w, store, interactions }: RouteDeps): void {
  router.route('POST', '/interactions/:iid/:itoken/callback', (ctx) => interactions.callback(ctx), false);

  const webhookMessage = (ctx: Ctx): { it: StoredInteraction; m: StoredMessage } => {
    const it = interactions.byToken(ctx.params.app, ctx.params.token);
    if (ctx.params.mid === '@original') return { it, m: interactions.originalOf(it) };
    const m = store.live(ctx.params.mid);
    const mine = m && (m.interactionId === it.id || m.raw.id === it.sourceMessageId);
    return { it, m: mine ? m : fail(404, E.UnknownMessage, 'Unknown Message') };
  };
  router.route(
    'GET',
    '/webhooks/:app/:token/messages/:mid',
    (ctx) => ({ status: 200, body: webhookMessage(ctx).m.raw }),
    false,
  );
  router.route(
    'PATCH',
    '/webhooks/:app/:token/messages/:mid',
    (ctx) => {
      const { it, m } = webhookMessage(ctx);
      store.checkUploadLimit(ctx.files, it.attachmentSizeLimit);
      return { status: 200, body: store.edit(m, ctx.body ?? {}, ctx.files) };
    },
    false,
  );
  router.route(
    'DELETE',
    '/webhooks/:app/:token/messages/:mid',
    (ctx) => {
      webhookMessage(ctx).m.deleted = true;
      return { status: 204 };
    },
    false,
  );
  router.route(
    'POST',
    '/webhooks/:app/:token',
    (ctx) => {
      const it = interactions.byToken(ctx.params.app, ctx.params.token);
      if (it.ackType === undefined) fail(404, E.UnknownWebhook, 'Unknown Webhook');
      store.checkUploadLimit(ctx.files, it.attachmentSizeLimit);
      const body = ctx.body ?? {};
      let m: StoredMessage;
      const original = store.live(it.originalMessageId);
      if (original && original.raw.flags & MessageFlags.Loading) {
        // Deprecated but real: the first follow-up after a type-5 defer replaces the loading message.
        store.edit(original, body, ctx.files);
        m = original;
      } else {
        validateMessage({ body, files: ctx.files });
        m = store.create({
          channelId: it.channelId,
          guild: W.findGuild(w, it.guildId),
          authorId: w.botUserId,
          kind: 'followup',
          interaction: it,
          body,
          files: ctx.files,
          defaultParse: ['users'],
        });
        it.followUpIds.push(m.raw.id);
      }
      return ctx.query.get('wait') === 'true' ? { status: 200, body: m.raw } : { status: 204 };
    },
    false,
  );
}
