/**
 * The whole upload path on one machine: `cdi serve` (embedded API server, controller, node agent
 * running the upload server as a child process, upload proxy) and `cdi image-upload` as a user
 * runs it, with only the kubeconfig `cdi serve` wrote.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ann } from '../../src/api/annotations.ts';
import { digestPrefix, volumeImage, waitPhase } from '../e2e/support.ts';
import { startServe, type Serve } from '../support/serve.ts';
import { uploadFixtures, type UploadFixtures } from './harness.ts';

const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
const run = promisify(execFile);

async function imageUpload(s: Serve, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, KUBECONFIG: s.kubeconfig, LOG_LEVEL: 'warn' };
  return run(cdi, ['image-upload', ...args], { env, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

describe('cdi image-upload against cdi serve', () => {
  let s: Serve;
  let fx: UploadFixtures;
  beforeAll(async () => {
    [s, fx] = await Promise.all([startServe(), uploadFixtures()]);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('creates a DataVolume, uploads a qcow2 through the proxy and the volume holds qemu-img convert output', async () => {
    const res = await imageUpload(s, 'dv', 'up-dv', '--image-path', fx.qcow2, '--size', '64Mi', '--checksum', 'sha256');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('DataVolume default/up-dv created');
    expect(res.stdout).toContain('Waiting for PVC up-dv upload pod to be ready...');
    expect(res.stdout).toMatch(/Uploading data to https:\/\/127\.0\.0\.1:\d+/);
    expect(res.stdout).toContain('Processing completed successfully');
    expect(res.stdout).toContain(`Uploading ${fx.qcow2} completed successfully`);
    await waitPhase(s, 'up-dv', 'Succeeded');
    const image = await digestPrefix(await volumeImage(s, 'up-dv'), fx.virtualSize);
    expect(image.sha256).toBe(fx.qcow2RawSha);
    expect(image.restZero).toBe(true);

    const again = await imageUpload(s, 'dv', 'up-dv', '--image-path', fx.qcow2, '--size', '64Mi');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('PVC up-dv already successfully imported/cloned/updated');
  });

  it('pvc mode: creates an upload PVC, waits for its pod-ready annotation, uploads', async () => {
    const res = await imageUpload(s, 'pvc', 'up-pvc', '--image-path', fx.qcow2, '--size', '64Mi');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('PVC default/up-pvc created');
    expect(res.stdout).toContain('Processing completed successfully');
    const pvc = await s.core.readNamespacedPersistentVolumeClaim({ name: 'up-pvc', namespace: 'default' });
    expect(pvc.metadata?.annotations).toMatchObject({ [Ann.uploadTarget]: '', [Ann.contentType]: 'kubevirt', [Ann.podPhase]: 'Succeeded' });
    const image = await digestPrefix(await volumeImage(s, 'up-pvc'), fx.virtualSize);
    expect(image.sha256).toBe(fx.qcow2RawSha);
  });
});
