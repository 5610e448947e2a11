/** What `cdi image-upload` does once its flags are parsed: prepare the volume, send the file, wait. */
import { access } from 'node:fs/promises';
import { CdiError } from '../../api/errors.ts';
import { parseImageUploadArgs, type ImageUploadFlags } from '../upload/flags.ts';
import { UploadKube } from '../upload/kube.ts';
import { createUploadProgress } from '../upload/progress.ts';
import { resolveChecksum, transferImage } from '../upload/transfer.ts';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export async function imageUpload(args: string[], flags: ImageUploadFlags): Promise<void> {
  const plan = parseImageUploadArgs(args, flags);
  await access(plan.path).catch((err: unknown) => {
    throw new CdiError('CDI_ERR_INPUT_OPEN', [plan.path, (err as Error).message], { cause: err });
  });
  const checksum = await resolveChecksum(plan.checksum, plan.path);
  const kube = UploadKube.load(flags.kubeconfig, flags.namespace, print);

  await kube.prepareTarget(plan);
  await kube.waitReady(plan);
  const proxyUrl = plan.uploadProxyUrl ?? (await kube.uploadProxyUrl());
  const ca = plan.insecure ? undefined : kube.clusterCa();

  const progress = createUploadProgress(process.stdout);
  print(`Uploading data to ${proxyUrl}\n`);
  try {
    await transferImage({
      proxyUrl,
      file: plan.path,
      getToken: () => kube.uploadToken(plan.name),
      retries: plan.retries,
      insecure: plan.insecure,
      ...(ca ? { ca } : {}),
      resume: plan.resume,
      ...(checksum ? { checksum } : {}),
      onStart: (_url, total, offset) => progress.start(total, offset),
      onProgress: (sent) => progress.update(sent),
      log: (line) => {
        progress.stop();
        print(line);
      },
    });
  } finally {
    progress.stop();
  }
  print('');
  print('Uploading data completed successfully, waiting for processing to complete, you can hit ctrl-c without interrupting the progress');
  if (plan.datasource) await kube.upsertDataSource(plan);
  await kube.waitProcessed(plan.name);
  print('Processing completed successfully');
  print(`Uploading ${plan.path} completed successfully`);
}
