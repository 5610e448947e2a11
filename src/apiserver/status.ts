import type { KindInfo } from './kinds.ts';

/**
 * Kubernetes `Status` failures. The reason (NotFound, AlreadyExists, Conflict, Invalid, ...) is
 * the stable code clients switch on, exactly as client-go's `errors.IsNotFound` and friends do.
 */
export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: number, reason: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

function qualified(info: KindInfo): string {
  return info.group === '' ? info.plural : `${info.plural}.${info.group}`;
}

function details(info: KindInfo, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, ...(info.group ? { group: info.group } : {}), kind: info.plural, ...extra };
}

export const notFound = (info: KindInfo, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${qualified(info)} "${name}" not found`, details(info, name));

export const alreadyExists = (info: KindInfo, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${qualified(info)} "${name}" already exists`, details(info, name));

export const conflict = (info: KindInfo, name: string): ApiError =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(info)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(info, name),
  );

export function invalid(info: KindInfo, name: string, causes: StatusCause[]): ApiError {
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
  // kube-apiserver: GroupKind (just the kind for the core group), and several causes in brackets.
  return new ApiError(
    422,
    'Invalid',
    `${info.group ? `${info.kind}.${info.group}` : info.kind} "${name}" is invalid: ${causes.length > 1 ? `[${list}]` : list}`,
    details(info, name, { kind: info.kind, causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', ...c })) }),
  );
}

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);

export const methodNotAllowed = (message: string): ApiError => new ApiError(405, 'MethodNotAllowed', message);

export const pathNotFound = (path: string): ApiError =>
  new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`, {});

export const unauthorized = (): ApiError => new ApiError(401, 'Unauthorized', 'Unauthorized');

export const gone = (message: string): ApiError => new ApiError(410, 'Expired', message);

export const internal = (message: string): ApiError => new ApiError(500, 'InternalError', `Internal error occurred: ${message}`);
