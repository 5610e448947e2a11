/**
 * Node flags for the processes that move a volume's bytes: importer, upload server, cloner,
 * upload proxy, and `cdi convert|import|image-upload`. V8 grows its young generation to tens of
 * MiB under the allocation rate of a transfer, and those pages stay resident; 1 MiB semi-spaces
 * cost no measurable time here and keep a 1 GiB HTTP import at ~114 MiB peak RSS instead of
 * ~126-160 (docs/adr/0017). Also written out in bin/cdi and docker/Dockerfile, which cannot
 * import this file.
 */
export const dataPathNodeFlags: readonly string[] = ['--max-semi-space-size=1'];
