import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../api/logger.ts';
import { resourceKey } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import { unauthorized } from '../status.ts';
import { startDefaultServiceAccounts, serviceAccounts } from './default-serviceaccounts.ts';
import { forbidden } from './forbidden.ts';
import { impersonated } from './impersonation.ts';
import { startClusterRoleAggregation } from './rbac-aggregation.ts';
import { RbacAuthorizer } from './rbac-authorizer.ts';
import { seedRbacDefaults } from './rbac-defaults.ts';
import type { RequestAttributes } from './rbac-rules.ts';
import { authenticateServiceAccountToken, looksLikeJwt, type ServiceAccountKeys } from './serviceaccount-tokens.ts';
import { AdminUser, type UserInfo } from './user.ts';

const saResource = resourceKey(serviceAccounts);
const MaxVerifiedTokens = 4096;

/**
 * Authentication and authorization of every request to the embedded API server: the admin
 * bearer token (system:masters) or a ServiceAccount token, then RBAC. Tokens are never logged.
 */
export class ApiAuth {
  readonly rbac: RbacAuthorizer;
  readonly serviceAccountKeys: ServiceAccountKeys;
  private readonly service: ObjectService;
  private readonly adminToken: Buffer;
  private readonly stops: Array<() => void>;
  /**
   * ServiceAccount tokens already verified, until they expire: a token is checked once, not on
   * every request. Any change to a ServiceAccount empties it, so a deleted one stops working at once.
   */
  private readonly verified = new Map<string, { user: UserInfo; expiresAt: number }>();

  constructor(service: ObjectService, adminToken: string, serviceAccountKeys: ServiceAccountKeys, log: Logger) {
    this.service = service;
    this.adminToken = Buffer.from(adminToken);
    this.serviceAccountKeys = serviceAccountKeys;
    seedRbacDefaults(service);
    this.rbac = new RbacAuthorizer(service);
    const forgetTokens = service.hub.subscribe((e) => {
      if (e.resource === saResource) this.verified.clear();
    });
    this.stops = [startClusterRoleAggregation(service, this.rbac, log), startDefaultServiceAccounts(service, log), () => this.rbac.close(), forgetTokens];
  }

  close(): void {
    for (const stop of this.stops) stop();
  }

  /** The request's user (or the one it may impersonate); 401 Unauthorized for a missing, unknown, forged, expired or orphaned token. */
  async authenticate(req: IncomingMessage): Promise<UserInfo> {
    return impersonated(req, await this.tokenUser(req), (user, attrs) => this.require(user, attrs));
  }

  private async tokenUser(req: IncomingMessage): Promise<UserInfo> {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw unauthorized();
    const given = Buffer.from(m[1]!);
    if (given.length === this.adminToken.length && timingSafeEqual(given, this.adminToken)) return AdminUser;
    if (looksLikeJwt(m[1]!)) {
      const known = this.verified.get(m[1]!);
      if (known && known.expiresAt > Date.now()) return known.user;
      const result = await authenticateServiceAccountToken(this.serviceAccountKeys, m[1]!, (ns, name) => this.service.find(serviceAccounts, ns, name));
      if (result) {
        if (this.verified.size >= MaxVerifiedTokens) this.verified.clear();
        this.verified.set(m[1]!, result);
        return result.user;
      }
    }
    throw unauthorized();
  }

  /** 403 Forbidden, with kube-apiserver's message, unless RBAC allows the request. */
  require(user: UserInfo, attrs: RequestAttributes): void {
    if (!this.rbac.authorize(user, attrs)) throw forbidden(user, attrs);
  }
}
