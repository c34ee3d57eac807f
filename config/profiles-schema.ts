/**
 * Spawn-page profiles (after KubeSpawner's profile_list, in core here): each profile is a card with
 * a description, resource limits, spawner overrides (any spawner kind) and options with choices,
 * optionally an "other" free-text choice validated by a regex. Visible to everyone or to groups.
 */
import { z } from 'zod';

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const slug = z.string().regex(SLUG, 'slugs use lowercase letters, digits and -');

/** '4G', '512M', '1.5G' or a number of bytes. */
export const ByteSize = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(\.\d+)?\s*[KMGT]i?B?$/i, "sizes look like '512M', '4G' or a number of bytes"),
]);

export const LimitsSchema = z.strictObject({
  cpu: z.number().positive().max(1024).optional().describe('CPU cores (fractions allowed).'),
  memory: ByteSize.optional().describe("Memory limit, e.g. '4G'."),
  gpu: z.number().int().min(0).max(64).optional().describe('Number of GPUs.'),
});

const Overrides = z.record(z.string(), z.unknown());

export const ChoiceSchema = z.strictObject({
  displayName: z.string().min(1).describe('Label of the choice.'),
  default: z.boolean().default(false).describe('Pre-selected choice.'),
  spawner: Overrides.default({}).describe('Spawner options this choice sets (merged over the profile).'),
  limits: LimitsSchema.optional().describe('Limits this choice sets (merged over the profile).'),
});

export const UnlistedChoiceSchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Offer a free-text "other" choice.'),
  displayName: z.string().default('Other').describe('Label of the free-text choice.'),
  validationRegex: z.string().default('^.{1,200}$').describe('The value must match this (anchored) regex.'),
  validationMessage: z.string().default('Invalid value').describe('Shown when the value does not match.'),
  spawner: Overrides.default({}).describe("Spawner options set by the free text; '{value}' in any string is replaced by it."),
});

export const ProfileOptionSchema = z.strictObject({
  displayName: z.string().min(1).describe('Label of the option.'),
  choices: z.record(slug, ChoiceSchema).refine((c) => Object.keys(c).length > 0, 'an option needs at least one choice').describe('The choices, by slug.'),
  unlistedChoice: UnlistedChoiceSchema.optional().describe('An optional free-text choice.'),
});

/** How the proxy serves the app in the server: Jupyter handles auth itself; others may not. */
export const AppRouteSchema = z.strictObject({
  hubAuth: z.boolean().default(false).describe("The proxy admits only users with access to the server (hub login), for apps without their own auth (RStudio, code-server)."),
  stripPrefix: z.boolean().default(false).describe('Forward /user/{name}/… as /… (for apps that serve at the root).'),
});

export const ProfileSchema = z.strictObject({
  slug: slug.describe('Identifier stored in user_options.profile.'),
  displayName: z.string().min(1).describe('Title of the card.'),
  description: z.string().default('').describe('What the environment offers.'),
  default: z.boolean().default(false).describe('Pre-selected profile.'),
  groups: z.array(z.string()).default([]).describe('Only members of these groups see it (empty: everyone).'),
  spawner: Overrides.default({}).describe('Spawner options for this profile, merged over the top-level spawner (set kind to use another spawner).'),
  limits: LimitsSchema.default({}).describe('CPU/memory/GPU limits shown on the card and applied by spawners that support them.'),
  options: z.record(slug, ProfileOptionSchema).default({}).describe('Further choices within the profile (e.g. image tag, size).'),
  app: AppRouteSchema.optional().describe('Route settings for the app this profile runs (default: the top-level `app`).'),
});

export type ProfileConfig = z.infer<typeof ProfileSchema>;
export type Limits = z.infer<typeof LimitsSchema>;
export type AppRoute = z.infer<typeof AppRouteSchema>;
