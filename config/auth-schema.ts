/**
 * The `auth` part of the configuration: which login methods are offered (local accounts, GitHub,
 * OpenID Connect — several at once become several buttons on the login page) and the pipeline
 * settings shared by all of them (JupyterHub Authenticator: allow_all, allow_existing_users,
 * allowed_users, blocked_users, admin_users, username normalization).
 *
 * Client secrets never go in this file's values: use `clientSecretFile`, or the environment
 * (LABHUB_GITHUB_CLIENT_SECRET, LABHUB_OIDC_CLIENT_SECRET), read by config/load.ts.
 */
import { z } from 'zod';

const names = (what: string) => z.array(z.string().min(1)).default([]).describe(what);
const methodName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, 'lowercase letters, digits and -')
  .describe('Short id of this login method, used in its URLs (/hub/oauth/{name}/login).');

export const LocalAuthSchema = z.strictObject({
  kind: z.literal('local'),
  name: methodName.default('local'),
  minPasswordLength: z.number().int().min(1).max(128).default(8).describe('Minimum length of local account passwords.'),
  allowSignup: z.boolean().default(false).describe('Offer /hub/signup: anyone may request an account, which an admin approves before it can log in.'),
  rateLimit: z
    .strictObject({
      windowSeconds: z.number().int().positive().default(900).describe('Window for the per-IP request limit on POST /hub/login.'),
      maxRequests: z.number().int().positive().default(100).describe('Login POSTs allowed per client IP per window (429 beyond).'),
    })
    .prefault({})
    .describe('Rate limit of login attempts per client IP (express-rate-limit).'),
  lockout: z
    .strictObject({
      maxFailuresPerUser: z.number().int().positive().default(5).describe('Failed logins for one username before it is locked.'),
      maxFailuresPerIp: z.number().int().positive().default(20).describe('Failed logins from one client IP before that IP is locked.'),
      windowSeconds: z.number().int().positive().default(900).describe('Failures older than this are forgotten.'),
      lockSeconds: z.number().int().positive().default(900).describe('How long a lock lasts (an admin can unlock earlier: DELETE /hub/api/users/{name}/lockout).'),
    })
    .prefault({})
    .describe('Lockout after repeated failed logins, per username and per client IP.'),
});

const oauthCommon = {
  clientId: z.string().min(1).describe('OAuth client id registered with the provider.'),
  clientSecretFile: z
    .string()
    .optional()
    .describe('File holding the client secret (otherwise env LABHUB_GITHUB_CLIENT_SECRET / LABHUB_OIDC_CLIENT_SECRET). Never logged.'),
  callbackUrl: z
    .string()
    .url()
    .optional()
    .describe('Redirect URI registered with the provider (default: {public URL}/hub/oauth/{name}/callback, from the request).'),
  label: z.string().optional().describe('Text of the login button.'),
  allowedUsers: names('Users of this provider who may log in (after normalization).'),
  adminUsers: names('Users of this provider who are made admins at login.'),
};

export const GitHubAuthSchema = z.strictObject({
  kind: z.literal('github'),
  name: methodName.default('github'),
  ...oauthCommon,
  enterpriseUrl: z
    .string()
    .url()
    .optional()
    .describe('GitHub Enterprise Server base URL, e.g. https://github.example.org; OAuth endpoints are {url}/login/oauth/*, the API {url}/api/v3. Default github.com.'),
  scopes: z.array(z.string()).default(['read:user', 'user:email']).describe('Requested OAuth scopes, e.g. read:org (needed for private org/team membership), repo.'),
  allowedOrganizations: names("Organizations ('org') or teams ('org:team-slug') whose members may log in."),
  populateTeamsInAuthState: z.boolean().default(true).describe('Keep the user\'s teams (org:team) in auth state (needs read:org).'),
});

export const OidcAuthSchema = z.strictObject({
  kind: z.literal('oidc'),
  name: methodName.default('oidc'),
  ...oauthCommon,
  issuer: z.string().url().describe('Issuer URL; endpoints come from {issuer}/.well-known/openid-configuration.'),
  scopes: z.array(z.string()).default(['openid', 'profile', 'email']).describe("Requested scopes ('openid' is always added)."),
  usernameClaim: z.string().default('preferred_username').describe('Claim used as the LabHub username (dotted path allowed).'),
  groupsClaim: z.string().default('groups').describe('Claim listing the user\'s groups (dotted path allowed, e.g. realm_access.roles).'),
  manageGroups: z.boolean().default(false).describe('Make LabHub group membership follow the groups claim at every login and refresh.'),
  allowedGroups: names('Members of any of these groups may log in.'),
  adminGroups: names('Members of these groups are admins; admins who leave the groups are demoted at their next login.'),
  fetchUserinfo: z.boolean().default(true).describe('Merge claims from the userinfo endpoint into the ID token claims.'),
  logoutRedirect: z.boolean().default(true).describe("On logout, send the browser to the provider's end_session_endpoint (RP-initiated logout)."),
  postLogoutRedirectUrl: z.string().url().optional().describe('Where the provider returns after logout (default {public URL}/hub/login; must be registered).'),
  refreshMarginSeconds: z.number().int().min(0).default(60).describe('Access tokens expiring within this margin are refreshed before a spawn.'),
  allowInsecureHttp: z.boolean().default(false).describe('Allow an http:// issuer (tests and loopback only).'),
});

export const AuthMethodSchema = z.discriminatedUnion('kind', [LocalAuthSchema, GitHubAuthSchema, OidcAuthSchema]);

export const UsernameSchema = z.strictObject({
  lowercase: z.boolean().default(true).describe('Lowercase usernames from every method.'),
  maxLength: z.number().int().min(1).max(255).default(64).describe('Longest accepted username.'),
  pattern: z
    .string()
    .default('^[a-z0-9][a-z0-9._@-]*$')
    .describe('Regular expression a normalized username must match (unsafe names like "..", "/x" or "a b" are always rejected).'),
  map: z.record(z.string(), z.string()).default({}).describe('Rename users after normalization (JupyterHub username_map).'),
});

const AuthObjectSchema = z.strictObject({
  methods: z.array(AuthMethodSchema).min(1).prefault([{ kind: 'local' }]).describe('Login methods offered, in the order of the login page.'),
  allowAll: z.boolean().default(false).describe('Anyone who authenticates with any method may log in.'),
  allowExistingUsers: z
    .boolean()
    .default(false)
    .describe('Users already in the database (created by an admin or an earlier login) may log in with any method. Off by default, so leaving an allowed group or organization locks the user out.'),
  allowedUsers: names('Users allowed to log in with any method.'),
  blockedUsers: names('Users never allowed to log in (checked before everything else).'),
  adminUsers: names('Users made admins at every login.'),
  usernames: UsernameSchema.prefault({}).describe('Username normalization and validation.'),
  autoLogin: z
    .boolean()
    .default(false)
    .describe("Skip the login page: /hub/login goes straight to the only login method's provider (JupyterHub auto_login). Needs exactly one method, of kind github or oidc."),
}).superRefine((auth, ctx) => {
  if (auth.autoLogin && (auth.methods.length !== 1 || auth.methods[0].kind === 'local')) {
    ctx.addIssue({ code: 'custom', path: ['autoLogin'], message: `autoLogin needs exactly one login method, of kind github or oidc (configured: ${auth.methods.map((m) => m.kind).join(', ')})` });
  }
});

/** `auth` accepts the full object, a single method (`{kind: github, ...}`) or a list of methods. */
export const AuthSchema = z.preprocess((v) => {
  if (Array.isArray(v)) return { methods: v };
  if (v && typeof v === 'object' && 'kind' in v) return { methods: [v] };
  return v;
}, AuthObjectSchema);

export type AuthConfig = z.infer<typeof AuthObjectSchema>;
export type AuthMethodConfig = z.infer<typeof AuthMethodSchema>;
export type LocalAuthConfig = z.infer<typeof LocalAuthSchema>;
export type GitHubAuthConfig = z.infer<typeof GitHubAuthSchema>;
export type OidcAuthConfig = z.infer<typeof OidcAuthSchema>;
export type UsernameConfig = z.infer<typeof UsernameSchema>;
