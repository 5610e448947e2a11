import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateServiceAccountKeys } from './serviceaccount-tokens.ts';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cdi-sa-keys-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

describe('service account signing key', () => {
  it('is made at once but written only after the credentials created pki/, and read back afterwards', async () => {
    const file = path.join(dataDir, 'pki', 'sa.key');
    let writtenBeforeCredentials: boolean | undefined;
    // Awaited once the key is made: at that point nothing may be under pki/ yet, which the
    // credentials then create as one set (a rename, here a mkdir).
    const pkiCreated: PromiseLike<void> = {
      then(onFulfilled, onRejected) {
        writtenBeforeCredentials = existsSync(path.dirname(file));
        return mkdir(path.dirname(file)).then(() => undefined).then(onFulfilled, onRejected);
      },
    };
    const keys = await loadOrCreateServiceAccountKeys(dataDir, pkiCreated);
    expect(writtenBeforeCredentials).toBe(false);
    const pem = await readFile(file, 'utf8');
    expect(keys.privateKey.export({ format: 'pem', type: 'pkcs8' })).toBe(pem);
    const again = await loadOrCreateServiceAccountKeys(dataDir);
    expect(again.publicKey.export({ format: 'pem', type: 'spki' })).toBe(keys.publicKey.export({ format: 'pem', type: 'spki' }));
  });
});
