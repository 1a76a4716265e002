// Guilds, their channels, roles and members, and users, read from the fixture world.
import { E, fail } from '../errors';
import * as W from '../world';
import type { RouteDeps } from '.';

export const guildOf = (w: W.World, id: string): W.WorldGuild =>
  W.findGuild(w, id) ?? fail(404, E.UnknownGuild, 'Unknown Guild');

export function guildRoutes({ router, world: w }: RouteDeps): void {
  router.route('GET', '/users/:uid', (ctx) => {
    const u = W.findUser(w, ctx.params.uid) ?? fail(404, E.UnknownUser, 'Unknown User');
    return { status: 200, body: W.userPayload(u) };
  });
  router.route('GET', '/guilds/:gid', (ctx) => {
    const g = guildOf(w, ctx.params.gid);
    return { status: 200, body: { ...W.guildPayload(w, g), approximate_member_count: g.members.length } };
  });
  router.route('GET', '/guilds/:gid/channels', (ctx) => {
    const g = guildOf(w, ctx.params.gid);
    return { status: 200, body: Object.values(g.channels).map((c) => W.channelPayload(g, c)) };
  });
  router.route('GET', '/guilds/:gid/roles', (ctx) => ({
    status: 200,
    body: Object.values(guildOf(w, ctx.params.gid).roles).map(W.rolePayload),
  }));
  router.route('GET', '/guilds/:gid/members/:uid', (ctx) => {
    const g = guildOf(w, ctx.params.gid);
    const m = W.findMember(g, ctx.params.uid) ?? fail(404, E.UnknownMember, 'Unknown Member');
    return { status: 200, body: W.memberPayload(w, g, m) };
  });
}
