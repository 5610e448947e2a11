import { CdiError } from '../../api/errors.ts';

export interface ImageReference {
  /** host[:port] as written, or registry-1.docker.io for Docker Hub. */
  registry: string;
  repository: string;
  /** A tag, or undefined when pulling by digest. */
  tag: string | undefined;
  digest: string | undefined;
}

const component = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const repositoryPattern = new RegExp(`^${component}(?:/${component})*$`);
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const digestPattern = /^sha256:[a-f0-9]{64}$/;

/** The manifest reference: the digest when pinned, else the tag. */
export function manifestRef(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/**
 * Parses CDI's `docker://[host[:port]/]repo[:tag|@sha256:hex]`, with Docker Hub's
 * normalisation (no host → docker.io, single name → library/, default tag latest).
 */
export function parseImageReference(url: string): ImageReference {
  const fail = (why: string): never => { throw new CdiError('CDI_ERR_REGISTRY_URL', [url, why]); };
  if (!url.startsWith('docker://')) fail('want docker://[host[:port]/]repository[:tag|@digest]');
  let rest = url.slice('docker://'.length);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestPattern.test(digest)) fail(`digest ${digest} is not sha256:<64 hex>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!tagPattern.test(tag)) fail(`tag ${tag} is invalid`);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry = 'docker.io';
  let repository = rest;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = 'registry-1.docker.io';
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  if (!repositoryPattern.test(repository)) fail(`repository ${repository} is invalid`);
  return { registry, repository, tag: tag ?? (digest ? undefined : 'latest'), digest };
}
