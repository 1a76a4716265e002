import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Metrics } from '../../lib/metrics';
import { AdminRunRepository } from './AdminRunRepository';
import { AnnouncementRepository } from './AnnouncementRepository';
import { AttemptRepository } from './AttemptRepository';
import { BudgetRepository } from './BudgetRepository';
import { GuildSettingsRepository } from './GuildSettingsRepository';
import { InstanceRepository } from './InstanceRepository';
import { LeaseRepository } from './LeaseRepository';
import { QueueRepository } from './QueueRepository';
import { RequestRepository } from './RequestRepository';
import { RequestViews } from './RequestViews';
import { SqlRunner } from './SqlRunner';

export {
  AdminRunRepository,
  AnnouncementRepository,
  AttemptRepository,
  BudgetRepository,
  GuildSettingsRepository,
  InstanceRepository,
  LeaseRepository,
  QueueRepository,
  RequestRepository,
  RequestViews,
  SqlRunner,
};

/** Every repository of the request model, on one database. */
export interface RequestStore {
  requests: RequestRepository;
  leases: LeaseRepository;
  attempts: AttemptRepository;
  announcements: AnnouncementRepository;
  views: RequestViews;
  adminRuns: AdminRunRepository;
  budgets: BudgetRepository;
  queue: QueueRepository;
  settings: GuildSettingsRepository;
  instances: InstanceRepository;
}

export function createRequestStore(dataSource: DataSource, logger: Logger, metrics?: Metrics): RequestStore {
  const log = logger.child({ component: 'store' });
  const sql = new SqlRunner(dataSource, log);
  return {
    requests: new RequestRepository(sql, log, metrics),
    leases: new LeaseRepository(sql, log),
    attempts: new AttemptRepository(sql, log),
    announcements: new AnnouncementRepository(sql, log),
    views: new RequestViews(sql),
    adminRuns: new AdminRunRepository(sql),
    budgets: new BudgetRepository(sql),
    queue: new QueueRepository(sql, log),
    settings: new GuildSettingsRepository(sql, log),
    instances: new InstanceRepository(sql, log),
  };
}
