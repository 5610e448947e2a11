/**
 * Node flags for the processes that move a volume's bytes: importer, upload server, cloner,
 * upload proxy, and `cdi convert|import|image-upload`. V8 grows its young generation to tens of
 * MiB under the allocation rate of a transfer, and those pages stay resident. 2 MiB semi-spaces
 * cost no measurable time and keep the 1 GiB HTTP import at ~107 MiB peak RSS (126-160 without)
 * and the upload proxy at ~131 MiB (~188); 1 MiB made the proxy scavenge so often that it used
 * 40% more CPU (docs/adr/0017). Also written out in bin/cdi and docker/Dockerfile, which cannot
 * import this file.
 */
export const dataPathNodeFlags: readonly string[] = ['--max-semi-space-size=2'];
