/**
 * Node flags for the processes that move a volume's bytes: importer, upload server, cloner,
 * upload proxy, and `cdi convert|import|image-upload`.
 * - 2 MiB semi-spaces: V8 grows its young generation to tens of MiB under the allocation rate of
 *   a transfer, and those pages stay resident; 2 MiB keeps the 1 GiB HTTP import at ~107 MiB
 *   peak RSS (126-160 without) and the upload proxy at ~131 MiB (~188) (docs/adr/0017).
 * - A 64 MiB initial old generation: buffers in flight across two scavenges are promoted, and
 *   with V8's ~20 MiB starting limit a transfer ran a full GC every ~12 MiB of data (80-90 per
 *   GiB), which was up to two thirds of the upload server's user CPU (docs/adr/0019).
 * - External memory counted in V8's global limit: every socket read is a new Buffer, and by default
 *   V8 starts a full GC whenever external memory grows 64 MiB past the last one, ~20 per GiB moved
 *   although a scavenge frees those buffers. In a heap that holds the Kubernetes client (the upload
 *   proxy) the marking cost a third of the proxy's CPU (docs/adr/0037).
 * Also written out in bin/cdi and docker/Dockerfile, which cannot import this file; the last two
 * are not allowed in NODE_OPTIONS, so the images put all three on node's command line.
 */
export const dataPathNodeFlags: readonly string[] = ['--max-semi-space-size=2', '--initial-old-space-size=64', '--external-memory-accounted-in-global-limit'];
