import { readFileSync } from 'node:fs';
import os from 'node:os';
import { CdiError } from '../api/errors.ts';
import { LocalEnv, PodPaths, UploadServerEnv, WorkerTuningEnv } from '../api/env.ts';
import { parseQuantity } from '../api/quantity.ts';
import { envBool } from '../worker/env-bool.ts';
import { listenAddress } from '../worker/listen.ts';
import { terminationLogPath } from '../worker/termination.ts';
import type { UploadContentType } from './session.ts';

export interface UploadServerConfig {
  target: string;
  contentType: UploadContentType;
  imageSize: number | undefined;
  filesystemOverhead: number;
  preallocation: boolean;
  tls: { key: string; cert: string; clientCa: string } | undefined;
  clientName: string | undefined;
  deadline: Date | undefined;
  host: string;
  port: number;
  /** Embedded mode: the owner-only unix socket the proxy uses instead of mTLS on loopback. */
  socket: string | undefined;
  /** Run by cdi serve's node agent (it always hands the upload server its socket): volumes are files on the node's disk. */
  volumesOnNodeDisk: boolean;
  terminationLog: string;
  scratchDir: string;
  resumeWindowMs: number;
}

/** Not a CDI variable: how long an interrupted upload waits for its continuation (docs/upload-resume.md). */
export const ResumeWindowEnv = WorkerTuningEnv.uploadResumeWindow;

/** CDI hands TLS material over as PEM text; a path to a PEM file is accepted too. */
function pem(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

/** The upload server's env contract (cdi-upstream §5.4) plus the local node agent's overrides. */
export function readUploadServerConfig(env: NodeJS.ProcessEnv): UploadServerConfig {
  const contentType = env[UploadServerEnv.contentType] || 'kubevirt';
  if (contentType !== 'kubevirt' && contentType !== 'archive') {
    throw new CdiError('CDI_ERR_WORKER_CONFIG', ['upload server', `${UploadServerEnv.contentType} must be kubevirt or archive, not ${contentType}`]);
  }
  const overhead = Number(env[UploadServerEnv.filesystemOverhead] || '0');
  if (!(overhead >= 0 && overhead < 1)) {
    throw new CdiError('CDI_ERR_WORKER_CONFIG', ['upload server', `${UploadServerEnv.filesystemOverhead} must be in [0, 1), not ${env[UploadServerEnv.filesystemOverhead]}`]);
  }
  const key = pem(env[UploadServerEnv.tlsKey]);
  const cert = pem(env[UploadServerEnv.tlsCert]);
  const clientCa = pem(env[UploadServerEnv.clientCert]);
  if ((key || cert || clientCa) && !(key && cert && clientCa)) {
    throw new CdiError('CDI_ERR_WORKER_CONFIG', ['upload server', `TLS needs all of ${UploadServerEnv.tlsKey}, ${UploadServerEnv.tlsCert} and ${UploadServerEnv.clientCert}`]);
  }
  const deadlineText = env[UploadServerEnv.deadline];
  const deadline = deadlineText ? new Date(deadlineText) : undefined;
  if (deadline && Number.isNaN(deadline.getTime())) throw new CdiError('CDI_ERR_WORKER_CONFIG', ['upload server', `invalid ${UploadServerEnv.deadline} ${deadlineText}`]);
  const { host, port } = listenAddress(env);
  const imageSizeText = env[UploadServerEnv.imageSize];
  const imageSize = imageSizeText ? parseQuantity(imageSizeText) : undefined;
  if (imageSizeText && imageSize === undefined) throw new CdiError('CDI_ERR_WORKER_CONFIG', ['upload server', `invalid quantity ${JSON.stringify(imageSizeText)}`]);
  return {
    target: env[LocalEnv.target] || env[UploadServerEnv.destination] || PodPaths.filesystemTarget,
    contentType,
    imageSize,
    filesystemOverhead: overhead,
    preallocation: envBool(env, UploadServerEnv.preallocation),
    tls: key && cert && clientCa ? { key, cert, clientCa } : undefined,
    clientName: env[UploadServerEnv.clientName] || undefined,
    deadline,
    host,
    port,
    socket: env[LocalEnv.listenSocket] || undefined,
    volumesOnNodeDisk: Boolean(env[LocalEnv.listenSocket]),
    terminationLog: terminationLogPath(env),
    scratchDir: env[LocalEnv.scratchDir] || os.tmpdir(),
    resumeWindowMs: Number(env[ResumeWindowEnv] || '600') * 1000,
  };
}
