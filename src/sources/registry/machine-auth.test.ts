import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authFilePaths, machineCredentials, pullSecretCredentials } from './machine-auth.ts';

let dir: string;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const file = async (name: string, body: unknown) => {
  const p = path.join(dir, name);
  await writeFile(p, typeof body === 'string' ? body : JSON.stringify(body));
  return p;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-machine-auth-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("the machine's registry credentials (containers-auth.json(5))", () => {
  it('looks in REGISTRY_AUTH_FILE instead of the runtime and XDG files, then in the docker config', () => {
    const home = '/home/u';
    expect(authFilePaths({ XDG_RUNTIME_DIR: '/run/user/1' }, home)).toEqual(['/run/user/1/containers/auth.json', '/home/u/.config/containers/auth.json', '/home/u/.docker/config.json']);
    expect(authFilePaths({ REGISTRY_AUTH_FILE: '/etc/auth.json', XDG_RUNTIME_DIR: '/run/user/1' }, home)).toEqual(['/etc/auth.json', '/home/u/.docker/config.json']);
    expect(authFilePaths({ XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dc' }, home)).toEqual(['/cfg/containers/auth.json', '/dc/config.json']);
  });

  it('reads base64 auth and username/password; the most specific entry and the first file with one win', async () => {
    const first = await file('first.json', { auths: { 'reg.example:5000/team': { auth: b64('team:t:pw') } } });
    const second = await file('second.json', { auths: { 'reg.example:5000': { username: 'host', password: 'hpw' }, 'https://index.docker.io/v1/': { auth: b64('hub:hpw') } } });
    const missing = path.join(dir, 'missing.json');
    expect(await machineCredentials('reg.example:5000', 'team/disk', [missing, first, second])).toMatchObject({ credentials: { user: 'team', password: 't:pw' }, file: first, skipped: [] });
    expect(await machineCredentials('reg.example:5000', 'other/disk', [first, second])).toMatchObject({ credentials: { user: 'host', password: 'hpw' }, file: second });
    expect((await machineCredentials('registry-1.docker.io', 'library/fedora', [second])).credentials).toEqual({ user: 'hub', password: 'hpw' });
    expect(await machineCredentials('elsewhere:1', 'x', [first, second])).toEqual({ skipped: [] });
  });

  it('says which credential helpers and unreadable files it skipped, and uses none of them', async () => {
    const helpers = await file('helpers.json', { credHelpers: { 'reg.example:5000': 'ecr-login' }, credsStore: 'desktop' });
    const broken = await file('broken.json', '{not json');
    const found = await machineCredentials('reg.example:5000', 'disk', [broken, helpers]);
    expect(found.credentials).toBeUndefined();
    expect(found.skipped).toEqual([
      expect.stringMatching(/broken\.json is not a readable auth file/),
      `${helpers} names credential helper docker-credential-ecr-login for reg.example:5000; cdi serve does not run credential helpers`,
      `${helpers} names credential store docker-credential-desktop; cdi serve does not run credential helpers`,
    ]);
  });
});

describe('image pull Secrets', () => {
  it('reads .dockerconfigjson and the legacy .dockercfg, most specific entry first, and nothing from a broken one', () => {
    const json = { auths: { 'reg.local:5000': { auth: b64('host:h') }, 'reg.local:5000/vms': { username: 'repo', password: 'r' } } };
    expect(pullSecretCredentials({ '.dockerconfigjson': Buffer.from(JSON.stringify(json)) }, 'reg.local:5000', 'vms/disk')).toEqual({ user: 'repo', password: 'r' });
    expect(pullSecretCredentials({ '.dockerconfigjson': Buffer.from(JSON.stringify(json)) }, 'reg.local:5000', 'other/disk')).toEqual({ user: 'host', password: 'h' });
    expect(pullSecretCredentials({ '.dockercfg': Buffer.from(JSON.stringify({ 'https://reg.local:5000/v1/': { auth: b64('old:o') } })) }, 'reg.local:5000', 'x')).toEqual({ user: 'old', password: 'o' });
    expect(pullSecretCredentials({ '.dockerconfigjson': Buffer.from('{not json') }, 'reg.local:5000', 'x')).toBeUndefined();
    expect(pullSecretCredentials({ token: Buffer.from('x') }, 'reg.local:5000', 'x')).toBeUndefined();
  });
});
