// Channels and their messages, with the bot's permissions from the fixture world's roles and overwrites
// (discord-api-docs developers/resources/channel.mdx and message.mdx: Get Channel, Get Channel Messages,
// Create/Edit/Delete Message).
import { MessageFlags, PermissionFlagsBits as P } from 'discord-api-types/v10';
import { E, fail } from '../errors';
import type { StoredMessage } from '../types';
import { validateMessage } from '../validation/message';
import * as W from '../world';
import type { RouteDeps } from '.';

export function channelRoutes({ router, world: w, store }: RouteDeps): void {
  const channelFor = (id: string): { guild: W.WorldGuild; channel: W.WorldChannel; perms: bigint } => {
    const loc = W.findChannel(w, id) ?? fail(404, E.UnknownChannel, 'Unknown Channel');
    const perms = W.channelPermissions(loc.guild, loc.channel, w.botUserId);
    if (!(perms & P.ViewChannel)) fail(403, E.MissingAccess, 'Missing Access');
    return { ...loc, perms };
  };
  // Ephemeral messages are not channel messages: only their interaction's webhook reaches them.
  const channelMessage = (channelId: string, messageId: string): StoredMessage => {
    const m = store.live(messageId);
    return m && m.channelId === channelId && !(m.raw.flags & MessageFlags.Ephemeral)
      ? m
      : fail(404, E.UnknownMessage, 'Unknown Message');
  };

  router.route('GET', '/channels/:cid', (ctx) => {
    const { guild, channel } = channelFor(ctx.params.cid);
    return { status: 200, body: W.channelPayload(guild, channel) };
  });
  router.route('GET', '/channels/:cid/messages', (ctx) => {
    const { perms } = channelFor(ctx.params.cid);
    // Without READ_MESSAGE_HISTORY the list is empty (message.mdx "Get Channel Messages").
    if (!(perms & P.ReadMessageHistory)) return { status: 200, body: [] };
    const limit = Math.min(Math.max(Number(ctx.query.get('limit') ?? 50), 1), 100);
    const list = store.history(ctx.params.cid, limit, ctx.query.get('before'), ctx.query.get('after'));
    return { status: 200, body: list.map((m) => m.raw) };
  });
  router.route('GET', '/channels/:cid/messages/:mid', (ctx) => {
    const { perms } = channelFor(ctx.params.cid);
    if (!(perms & P.ReadMessageHistory)) fail(403, E.MissingAccess, 'Missing Access');
    return { status: 200, body: channelMessage(ctx.params.cid, ctx.params.mid).raw };
  });
  router.route('POST', '/channels/:cid/messages', (ctx) => {
    const { guild, channel, perms } = channelFor(ctx.params.cid);
    store.checkUploadLimit(ctx.files, W.guildUploadLimit(guild));
    if (!(perms & P.SendMessages)) fail(403, E.MissingPermissions, 'Missing Permissions');
    if (ctx.files.length && !(perms & P.AttachFiles)) fail(403, E.MissingPermissions, 'Missing Permissions');
    const body = ctx.body ?? {};
    validateMessage({ body, files: ctx.files });
    if (body.enforce_nonce && body.nonce !== undefined) {
      const first = store.byNonce(w.botUserId, body.nonce);
      if (first) return { status: 200, body: first.raw };
    }
    const m = store.create({
      channelId: channel.id,
      guild,
      authorId: w.botUserId,
      kind: 'channel',
      body,
      files: ctx.files,
      defaultParse: ['users', 'roles', 'everyone'],
    });
    if (body.nonce !== undefined) store.rememberNonce(w.botUserId, body.nonce, m.raw.id);
    return { status: 200, body: m.raw };
  });
  router.route('PATCH', '/channels/:cid/messages/:mid', (ctx) => {
    const { guild, perms } = channelFor(ctx.params.cid);
    const m = channelMessage(ctx.params.cid, ctx.params.mid);
    if (m.authorId !== w.botUserId)
      fail(403, E.CannotEditMessageAuthoredByAnotherUser, 'Cannot edit a message authored by another user');
    if (!(perms & P.SendMessages) && !m.interactionId) fail(403, E.MissingPermissions, 'Missing Permissions');
    store.checkUploadLimit(ctx.files, W.guildUploadLimit(guild));
    return { status: 200, body: store.edit(m, ctx.body ?? {}, ctx.files) };
  });
  router.route('DELETE', '/channels/:cid/messages/:mid', (ctx) => {
    const { perms } = channelFor(ctx.params.cid);
    const m = channelMessage(ctx.params.cid, ctx.params.mid);
    if (m.authorId !== w.botUserId && !(perms & P.ManageMessages))
      fail(403, E.MissingPermissions, 'Missing Permissions');
    m.deleted = true;
    return { status: 204 };
  });
}
