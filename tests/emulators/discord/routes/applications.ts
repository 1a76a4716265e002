// The bot's own identity and connection (gateway URL, /users/@me, /applications/@me) and application commands,
// global and per guild, as Sapphire registers them (GET, POST/PATCH per command, or a bulk PUT).
// Command object: discord-api-docs developers/interactions/application-commands.mdx ("Application Command Object").
import { ApplicationCommandType, ApplicationIntegrationType } from 'discord-api-types/v10';
import type { SnowflakeFactory } from '../clock';
import { E, fail } from '../errors';
import type { CommandRegistry } from '../interactions';
import type { Ctx } from '../router';
import * as W from '../world';
import type { RouteDeps } from '.';
import { guildOf } from './guilds';

export function commandRegistry(): CommandRegistry {
  const guilds = new Map<string, any[]>();
  return {
    global: [],
    guilds,
    guild(guildId: string): any[] {
      let list = guilds.get(guildId);
      if (!list) guilds.set(guildId, (list = []));
      return list;
    },
  };
}

const typeOf = (c: any): ApplicationCommandType => c.type ?? ApplicationCommandType.ChatInput;

/** Creates or replaces (same name and type, or `existingId`) a command in `list`. */
function upsertCommand(
  ids: SnowflakeFactory,
  appId: string,
  list: any[],
  body: any,
  guildId?: string,
  existingId?: string,
): { cmd: any; created: boolean } {
  const type = typeOf(body);
  const old = existingId
    ? list.find((c) => c.id === existingId)
    : list.find((c) => c.name === body.name && typeOf(c) === type);
  if (existingId && !old) fail(404, E.UnknownApplicationCommand, 'Unknown application command');
  const cmd = {
    description: '',
    options: [],
    default_member_permissions: null,
    dm_permission: true,
    nsfw: false,
    contexts: null,
    integration_types: [ApplicationIntegrationType.GuildInstall],
    name_localizations: null,
    description_localizations: null,
    ...old,
    ...body,
    id: old?.id ?? ids.next(),
    application_id: appId,
    type,
    version: ids.next(),
    ...(guildId ? { guild_id: guildId } : {}),
  };
  if (old) list.splice(list.indexOf(old), 1, cmd);
  else list.push(cmd);
  return { cmd, created: !old };
}

function commandRoutes(
  { router, ids, world }: RouteDeps,
  prefix: string,
  listOf: (ctx: Ctx) => { list: any[]; guildId?: string },
): void {
  const upsert = (list: any[], body: any, guildId?: string, existingId?: string) =>
    upsertCommand(ids, world.applicationId, list, body, guildId, existingId);
  const unknown = () => fail(404, E.UnknownApplicationCommand, 'Unknown application command');
  router.route('GET', prefix, (ctx) => ({ status: 200, body: listOf(ctx).list }));
  router.route('POST', prefix, (ctx) => {
    const { list, guildId } = listOf(ctx);
    const { cmd, created } = upsert(list, ctx.body ?? {}, guildId);
    return { status: created ? 201 : 200, body: cmd };
  });
  router.route('PUT', prefix, (ctx) => {
    const { list, guildId } = listOf(ctx);
    const old = [...list];
    list.length = 0;
    for (const body of (ctx.body ?? []) as any[]) {
      const prev = old.find((c) => c.name === body.name && typeOf(c) === typeOf(body));
      if (prev) list.push(prev);
      upsert(list, body, guildId, prev?.id);
    }
    return { status: 200, body: list };
  });
  router.route('GET', `${prefix}/:cid`, (ctx) => ({
    status: 200,
    body: listOf(ctx).list.find((c) => c.id === ctx.params.cid) ?? unknown(),
  }));
  router.route('PATCH', `${prefix}/:cid`, (ctx) => {
    const { list, guildId } = listOf(ctx);
    return { status: 200, body: upsert(list, ctx.body ?? {}, guildId, ctx.params.cid).cmd };
  });
  router.route('DELETE', `${prefix}/:cid`, (ctx) => {
    const { list } = listOf(ctx);
    const i = list.findIndex((c) => c.id === ctx.params.cid);
    if (i < 0) unknown();
    list.splice(i, 1);
    return { status: 204 };
  });
}

export function applicationRoutes(d: RouteDeps): void {
  const { router, world: w, commands } = d;
  const app = (ctx: Ctx) =>
    ctx.params.app === w.applicationId ? undefined : fail(403, E.MissingAccess, 'Missing Access');

  // discord.js takes the gateway URL from GET /gateway/bot (discord-emulation.md §1).
  router.route('GET', '/gateway', () => ({ status: 200, body: { url: d.gatewayUrl() } }), false);
  // `shards` and `session_start_limit` follow world.sharding and the IDENTIFYs so far (gateway.mdx "Get Gateway Bot").
  router.route('GET', '/gateway/bot', () => ({ status: 200, body: d.gatewayBot() }));
  // Registered before guilds.ts's /users/:uid, which would otherwise match `@me`.
  router.route('GET', '/users/@me', () => ({
    status: 200,
    body: { ...W.userPayload(w.users.bot), verified: true, mfa_enabled: false },
  }));
  router.route('GET', '/applications/@me', () => ({
    status: 200,
    body: {
      id: w.applicationId,
      name: 'veobot',
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: 0,
      team: null,
      owner: W.userPayload(w.users.owner),
      bot: W.userPayload(w.users.bot),
      approximate_guild_count: W.guildList(w).length,
      integration_types_config: { [ApplicationIntegrationType.GuildInstall]: {} },
    },
  }));
  commandRoutes(d, '/applications/:app/commands', (ctx) => (app(ctx), { list: commands.global }));
  commandRoutes(d, '/applications/:app/guilds/:gid/commands', (ctx) => {
    app(ctx);
    guildOf(w, ctx.params.gid);
    return { list: commands.guild(ctx.params.gid), guildId: ctx.params.gid };
  });
}
