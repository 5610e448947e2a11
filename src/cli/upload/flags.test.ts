import { describe, expect, it } from 'vitest';
import { parseImageUploadArgs, type ImageUploadFlags } from './flags.ts';

const image = { imagePath: 'disk.qcow2' };

function message(args: string[], flags: ImageUploadFlags): string {
  try {
    parseImageUploadArgs(args, flags);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

describe('image-upload flags (virtctl texts)', () => {
  it.each([
    [['dv', 'a'], { ...image, size: '1Gi', pvcSize: '2Gi' }, '--pvc-size and --size can not be specified at the same time'],
    [['dv', 'a'], { ...image, pvcName: 'b' }, 'cannot use --pvc-name and args'],
    [['dv'], image, 'expecting two args'],
    [['dv', 'a', 'b'], image, 'expecting two args'],
    [['vm', 'a'], image, 'invalid resource type vm'],
    [['dv', 'a'], { ...image, volumeMode: 'filesystem', blockVolume: true }, "incompatible --volume-mode 'filesystem' and --block-volume"],
    [['dv', 'a'], { ...image, volumeMode: 'Blocky' }, "Invalid volume mode 'Blocky'. Valid values are 'block' and 'filesystem'."],
    [['dv', 'a'], {}, 'either image-path or archive-path must be provided'],
    [['dv', 'a'], { ...image, archivePath: 'a.tar' }, 'cannot handle both image-path and archive-path, provide only one'],
    [['dv', 'a'], { archivePath: 'a.tar', volumeMode: 'block' }, 'In archive upload the volume mode should always be filesystem'],
    [['dv', 'a'], { ...image, defaultInstancetypeKind: 'VirtualMachineInstancetype' }, '--default-instancetype must be provided with --default-instancetype-kind'],
    [['dv', 'a'], { ...image, defaultPreferenceKind: 'VirtualMachinePreference' }, '--default-preference must be provided with --default-preference-kind'],
    [['dv', 'a'], { ...image, create: false, defaultInstancetype: 'u1.small' }, '--default-instancetype and --default-preference cannot be used with --no-create'],
    [['dv', 'a'], { ...image, accessMode: 'ReadOnlyMany' }, 'cannot upload to a readonly volume, use either ReadWriteOnce or ReadWriteMany if supported'],
    [['dv', 'a'], { ...image, size: '10Gb' }, "validation failed for size=10Gb: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"],
  ] as Array<[string[], ImageUploadFlags, string]>)('%j %j → %s', (args, flags, text) => {
    expect(message(args, flags)).toBe(text);
  });

  it('builds the plan virtctl would act on', () => {
    const plan = parseImageUploadArgs(['PVC', 'disk'], {
      archivePath: 'tree.tar',
      pvcSize: '2Gi',
      uploadproxyUrl: 'proxy.example:31001',
      defaultInstancetype: 'u1.small',
      defaultInstancetypeKind: 'VirtualMachineClusterInstancetype',
      retry: '7',
      waitSecs: '10',
    });
    expect(plan).toMatchObject({
      kind: 'pvc',
      name: 'disk',
      path: 'tree.tar',
      contentType: 'archive',
      size: '2Gi',
      uploadProxyUrl: 'https://proxy.example:31001',
      retries: 7,
      waitSecs: 10,
      noCreate: false,
      labels: {
        'instancetype.kubevirt.io/default-instancetype': 'u1.small',
        'instancetype.kubevirt.io/default-instancetype-kind': 'VirtualMachineClusterInstancetype',
      },
    });
    expect(parseImageUploadArgs([], { ...image, pvcName: 'old', blockVolume: true })).toMatchObject({ kind: 'pvc', name: 'old', volumeMode: 'block' });
  });
});
