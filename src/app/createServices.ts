import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { createRequestStore, type RequestStore } from '../db/repositories';
import { DiscordNotifier } from '../discord/DiscordNotifier';
import type { Config } from '../lib/config';
import type { CrashPoints } from '../lib/crashPoints';
import type { Metrics } from '../lib/metrics';
import { AnnouncementService } from '../services/AnnouncementService';
import { GenerationService } from '../services/generation/GenerationService';
import { GuildSettingsService } from '../services/GuildSettingsService';
import { ImageInputService } from '../services/ImageInputService';
import { InstanceHeartbeat } from '../services/InstanceHeartbeat';
import { IterationService } from '../services/IterationService';
import { LeaseManager } from '../services/LeaseManager';
import { ResumeAdminService } from '../services/ResumeAdminService';
import { SpendService } from '../services/SpendService';
import { StorageService } from '../services/StorageService';
import { SubmitQueue } from '../services/SubmitQueue';
import { TaskResumeService } from '../services/TaskResumeService';
import { VeoService } from '../services/VeoService';
import { VideoAttachmentService } from '../services/VideoAttachmentService';
import { VideoRequestService } from '../services/VideoRequestService';

export interface ServiceDependencies {
  config: Config;
  dataSource: DataSource;
  /** discord.js's REST client (the bot's own, or one pointed at an emulator in tests) */
  rest: REST;
  applicationId: () => string | null;
  logger: Logger;
  metrics: Metrics;
  crashPoints: CrashPoints;
  /** this process's Discord shard ids (recorded with its heartbeat); [0] unless given */
  shards?: () => number[];
  /** a newer process took over this INSTANCE_ID: this one must stop */
  onReplaced?: () => void;
  /** built from `config.google` unless given */
  veo?: VeoService;
  storage?: StorageService;
}

export interface Services {
  store: RequestStore;
  leases: LeaseManager;
  veo: VeoService;
  storage: StorageService;
  notifier: DiscordNotifier;
  announcements: AnnouncementService;
  generation: GenerationService;
  resume: TaskResumeService;
  videoRequests: VideoRequestService;
  resumeAdmin: ResumeAdminService;
  images: ImageInputService;
  iterations: IterationService;
  queue: SubmitQueue;
  settings: GuildSettingsService;
  spend: SpendService;
  heartbeat: InstanceHeartbeat;
}

/** Wires every service the one way the bot runs them (tests build them through this too). */
export function createServices(d: ServiceDependencies): Services {
  const { config, logger, metrics, crashPoints } = d;
  const log = (component: string) => logger.child({ component });
  const store = createRequestStore(d.dataSource, logger, metrics);
  const leases = new LeaseManager(store.leases, config.instanceId, config.resume.leaseDurationMs, log('leases'));
  const veo = d.veo ?? VeoService.create(config.google, log('veo'));
  const storage = d.storage ?? StorageService.create(config.google, config.video, log('storage'));
  const notifier = new DiscordNotifier({
    rest: d.rest,
    applicationId: d.applicationId,
    logger: log('notifier'),
    metrics,
  });
  const images = new ImageInputService({ storage, logger: log('images') });
  const announcements = new AnnouncementService({
    announcements: store.announcements,
    notifier,
    attachments: new VideoAttachmentService(storage, log('attachments')),
    leases,
    metrics,
    crashPoints,
    images,
  });
  const queue = new SubmitQueue({ queue: store.queue, config, logger: log('queue'), metrics });
  const generation = new GenerationService({
    requests: store.requests,
    attempts: store.attempts,
    leases,
    veo,
    storage,
    announcements,
    images,
    queue,
    config,
    logger: log('generation'),
    metrics,
    crashPoints,
  });
  const resume = new TaskResumeService({
    requests: store.requests,
    leases,
    generation,
    notifier,
    config,
    logger: log('resume'),
    metrics,
    crashPoints,
  });
  const videoRequests = new VideoRequestService({
    requests: store.requests,
    budgets: store.budgets,
    generation,
    config,
    logger: log('video'),
    metrics,
    crashPoints,
    instanceId: config.instanceId,
  });
  const settings = new GuildSettingsService({ settings: store.settings, budgets: store.budgets, config });
  const spend = new SpendService({ budgets: store.budgets, queue: store.queue, config });
  const heartbeat = new InstanceHeartbeat({
    instances: store.instances,
    instanceId: config.instanceId,
    deadAfterMs: config.instanceDeadAfterMs,
    // The embedded database admits one process at a time (its DATA_DIR lock): a previous incarnation is gone.
    exclusive: config.database.url === undefined,
    shards: d.shards ?? (() => [0]),
    logger: log('instances'),
    onTakeoverWaiting: () => {
      if (!config.resume.disabled) resume.claimFreeCapacity('takeover');
    },
    onReplaced: d.onReplaced,
  });
  const resumeAdmin = new ResumeAdminService({
    requests: store.requests,
    instances: store.instances,
    views: store.views,
    adminRuns: store.adminRuns,
    resume,
    spend,
    config,
  });
  const iterations = new IterationService({
    requests: store.requests,
    views: store.views,
    announcements: store.announcements,
    leases,
    videoRequests,
    images,
    config,
    logger: log('iterations'),
    instanceId: config.instanceId,
  });
  return {
    store,
    leases,
    veo,
    storage,
    notifier,
    announcements,
    generation,
    resume,
    videoRequests,
    resumeAdmin,
    images,
    iterations,
    queue,
    settings,
    spend,
    heartbeat,
  };
}
