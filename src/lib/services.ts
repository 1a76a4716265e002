import type { REST } from 'discord.js';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { GenerationService } from '../services/GenerationService';
import { LeaseKeeper } from '../services/LeaseKeeper';
import { NotificationService } from '../services/NotificationService';
import { RequestTrackingService } from '../services/RequestTrackingService';
import { ResumeAdminService } from '../services/ResumeAdminService';
import { StorageService } from '../services/StorageService';
import { TaskResumeService } from '../services/TaskResumeService';
import { VeoService } from '../services/VeoService';
import { VideoAttachmentService } from '../services/VideoAttachmentService';
import { VideoRequestService } from '../services/VideoRequestService';
import type { Config } from './config';
import type { CrashPoints } from './crashPoints';
import type { Metrics } from './metrics';

export interface ServiceDependencies {
  config: Config;
  dataSource: DataSource;
  /** discord.js's REST client (the bot's own, or one pointed at an emulator in tests) */
  rest: REST;
  applicationId: () => string | null;
  logger: Logger;
  metrics: Metrics;
  crashPoints: CrashPoints;
  /** built from `config.google` unless given */
  veo?: VeoService;
  storage?: StorageService;
}

export interface Services {
  tracking: RequestTrackingService;
  veo: VeoService;
  storage: StorageService;
  notifier: NotificationService;
  generation: GenerationService;
  resume: TaskResumeService;
  videoRequests: VideoRequestService;
  resumeAdmin: ResumeAdminService;
  leaseKeeper: LeaseKeeper;
}

/** Wires every service the one way the bot runs them (tests build them through this too). */
export function createServices(d: ServiceDependencies): Services {
  const { config, logger, metrics, crashPoints } = d;
  const log = (component: string) => logger.child({ component });
  const tracking = new RequestTrackingService(d.dataSource, log('tracking'));
  const veo = d.veo ?? VeoService.create(config.google, log('veo'));
  const storage = d.storage ?? StorageService.create(config.google, config.video, log('storage'));
  const notifier = new NotificationService({
    rest: d.rest,
    applicationId: d.applicationId,
    attachments: new VideoAttachmentService(storage, log('attachments')),
    logger: log('notifier'),
    metrics,
  });
  const generation = new GenerationService({
    tracking,
    veo,
    storage,
    notifier,
    config,
    logger: log('generation'),
    metrics,
    crashPoints,
  });
  const resume = new TaskResumeService({
    tracking,
    generation,
    notifier,
    config,
    logger: log('resume'),
    metrics,
    crashPoints,
    instanceId: config.instanceId,
  });
  const videoRequests = new VideoRequestService({
    tracking,
    generation,
    config,
    logger: log('video'),
    metrics,
    crashPoints,
    instanceId: config.instanceId,
  });
  const resumeAdmin = new ResumeAdminService({ tracking, resume, config, metrics });
  const leaseKeeper = new LeaseKeeper(tracking, config.instanceId, config.resume.leaseDurationMs, log('leases'), () =>
    generation.drivingIds(),
  );
  return { tracking, veo, storage, notifier, generation, resume, videoRequests, resumeAdmin, leaseKeeper };
}
