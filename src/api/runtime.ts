/**
 * Node flags for the processes that move a volume's bytes: importer, upload server, cloner,
 * upload proxy, and `cdi convert|import|image-upload`.
 * - 2 MiB semi-spaces: V8 grows its young generation to tens of MiB under the allocation rate of
 *   a transfer, and those pages stay resident; 2 MiB keeps the 1 GiB HTTP import at ~107 MiB
 *   peak RSS (126-160 without) and the upload proxy at ~131 MiB (~188) (docs/adr/0017).
 * - A 64 MiB initial old generation: buffers in flight across two scavenges are promoted, and
 *   with V8's ~20 MiB starting limit a transfer ran a full GC every ~12 MiB of data (80-90 per
 *   GiB), which was up to two thirds of the upload server's user CPU (docs/adr/0019).
 * Also written out in bin/cdi and docker/Dockerfile, which cannot import this file; the second
 * flag is not allowed in NODE_OPTIONS, so the images put both on node's command line.
 */
export const dataPathNodeFlags: readonly string[] = ['--max-semi-space-size=2', '--initial-old-space-size=64'];

/**
 * For the processes that move bytes with the Kubernetes client in their heap: the upload proxy
 * and `cdi image-upload`. Every socket read is a new Buffer, and by default V8 starts a full GC
 * whenever external memory has grown 64 MiB past the last one, ~20 per GiB moved, although a
 * scavenge frees those buffers; marking a heap that holds the client cost the proxy a third of
 * its CPU. Counted in V8's global limit instead, they start none (docs/adr/0037). Not for the
 * workers and `cdi convert`: their heaps are small, and an xz convert peaked 25-50 MiB higher.
 * Also in bin/cdi and docker/Dockerfile; not allowed in NODE_OPTIONS either.
 */
export const relayNodeFlags: readonly string[] = [...dataPathNodeFlags, '--external-memory-accounted-in-global-limit'];
