/**
 * Operations settings: culling (idle timeout, max age, per profile/group), quotas (servers per
 * user, running per group/profile, CPU/memory budget per group), reconciliation and shutdown.
 * Everything is off by default.
 */
import { z } from 'zod';
import { ByteSize } from './profiles-schema.js';

const nonneg = z.number().min(0);

export const CullRuleSchema = z.strictObject({
  idleTimeoutSeconds: nonneg.optional().describe('Stop servers idle (no proxy traffic, no activity report) this long; 0 = never.'),
  maxAgeSeconds: nonneg.optional().describe('Stop servers this long after they started, active or not; 0 = never.'),
});

export const CullingSchema = z.strictObject({
  idleTimeoutSeconds: nonneg.default(0).describe('Stop a server after this many seconds without activity (proxy traffic or activity reports); 0 = off.'),
  maxAgeSeconds: nonneg.default(0).describe('Stop a server this many seconds after it started; 0 = off.'),
  intervalSeconds: z.number().positive().default(60).describe('How often the culler runs (it also pulls activity from the proxy).'),
  byProfile: z.record(z.string(), CullRuleSchema).default({}).describe('Per-profile overrides (profile slug → rule); a profile rule wins over group rules.'),
  byGroup: z.record(z.string(), CullRuleSchema).default({}).describe("Per-group overrides (group → rule); a user in several groups gets the most lenient value."),
});

export const GroupBudgetSchema = z.strictObject({
  cpu: z.number().positive().optional().describe('Total CPU cores the running servers of the group may hold (from profile limits).'),
  memory: ByteSize.optional().describe("Total memory the running servers of the group may hold, e.g. '64G'."),
});

export const QuotasSchema = z.strictObject({
  maxServersPerUser: z.number().int().min(0).default(0).describe('Maximum servers (default + named) one user may run at once; 0 = no limit. Refused with 403.'),
  maxRunningPerGroup: z.record(z.string(), z.number().int().min(0)).default({}).describe('Maximum running servers of the members of a group (group → number). Refused with 429.'),
  maxRunningPerProfile: z.record(z.string(), z.number().int().min(0)).default({}).describe('Maximum running servers started with a profile (slug → number). Refused with 429.'),
  groupBudgets: z.record(z.string(), GroupBudgetSchema).default({}).describe('Total CPU/memory (from profile limits) of the running servers of a group. Refused with 429.'),
});

export const OperationsSchema = z.strictObject({
  reconcileConcurrency: z.number().int().min(1).max(1000).default(20).describe('How many spawner polls / proxy route changes the reconciliation loops run at once.'),
  stopServersOnShutdown: z.boolean().default(false).describe('Stop every server when the hub shuts down (SIGTERM/SIGINT); by default they keep running.'),
  shutdownGraceSeconds: z.number().min(0).default(10).describe('On shutdown, how long in-flight requests may take before connections are closed.'),
  proxyCheckIntervalSeconds: z.number().positive().default(5).describe("How often the hub checks the proxy is alive (a 'subprocess' proxy that died is restarted and its routes restored)."),
  auditRetentionDays: z.number().min(0).default(0).describe('Delete audit log entries older than this many days; 0 = keep forever.'),
  orphanCheckMinutes: z
    .number()
    .min(0)
    .default(60)
    .describe('How often the hub looks for containers, VMs and Slurm jobs of its own that its database does not account for (logged, metric labhub_orphan_workloads, GET /hub/api/orphans); 0 = only at start.'),
});

export type CullingConfig = z.infer<typeof CullingSchema>;
export type QuotasConfig = z.infer<typeof QuotasSchema>;
export type OperationsConfig = z.infer<typeof OperationsSchema>;
