import type { AddressInfo } from 'node:net';
import { AdmissionregistrationV1Api, ApiregistrationV1Api, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import { Gauge, collectDefaultMetrics } from 'prom-client';
import { asCdiError } from '../../api/errors.ts';
import { startController } from '../../controller/index.ts';
import { pollImageDigest } from '../../sources/registry/digest.ts';
import { createLogger } from '../../log.ts';
import { buildHealthServer } from '../health.ts';
import { ownNamespace, selectKubeConfig } from '../kubeconfig.ts';
import { CdiLeaderLockName, LeaderElector, defaultIdentity } from '../leader-election.ts';
import { runCertController } from '../pki/cert-controller.ts';
import { kubernetesCertStore } from '../pki/kube-store.ts';
import { cdiCertSpecs } from '../pki/rotation.ts';
import { onShutdown } from '../../worker/shutdown.ts';

/**
 * cdi-controller for cluster mode (CDI's cdi-deployment): replicas campaign for the Lease
 * `cdi-controller-leader-election-helper`; the leader runs the DataVolume controller and keeps
 * certificates current. Losing the lease exits the process, as controller-runtime does, so a
 * restarted pod rejoins as a candidate with clean state.
 */

interface Flags {
  kubeconfig?: string;
  namespace: string;
  healthAddress: string;
  healthPort: number;
  leaderElect: boolean;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  importerImage?: string;
  uploadserverImage?: string;
  clonerImage?: string;
}

const seconds = (v: string) => Number.parseFloat(v) * 1000;

const program = new Command('cdi-controller')
  .description('DataVolume controller of cluster mode, leader elected on a coordination.k8s.io Lease')
  .option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster service account, then $KUBECONFIG, then ~/.kube/config)')
  .addOption(new Option('--namespace <ns>', 'namespace of the lease and of CDI\'s Secrets').env('POD_NAMESPACE').default(ownNamespace()))
  .option('--health-address <ip>', 'address of /healthz, /readyz and /metrics', '0.0.0.0')
  .option('--health-port <port>', 'port of /healthz, /readyz and /metrics', (v) => Number.parseInt(v, 10), 8080)
  .option('--no-leader-elect', 'run without leader election (one replica only)')
  .option('--lease-duration <seconds>', 'lease duration', seconds, 15_000)
  .option('--renew-deadline <seconds>', 'renew deadline', seconds, 10_000)
  .option('--retry-period <seconds>', 'retry period', seconds, 2_000)
  .addOption(new Option('--importer-image <ref>', 'importer worker image').env('IMPORTER_IMAGE'))
  .addOption(new Option('--uploadserver-image <ref>', 'upload server worker image').env('UPLOADSERVER_IMAGE'))
  .addOption(new Option('--cloner-image <ref>', 'cloner worker image').env('CLONER_IMAGE'))
  .action(async (flags: Flags) => {
    const logger = createLogger('cdi-controller');
    const { kubeConfig, source } = selectKubeConfig({ kubeconfig: flags.kubeconfig });
    collectDefaultMetrics();
    const isLeader = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.', labelNames: ['name'] });
    isLeader.set({ name: CdiLeaderLockName }, 0);
    let shuttingDown = false;
    const health = buildHealthServer({ ready: () => !shuttingDown });
    await health.listen({ host: flags.healthAddress, port: flags.healthPort });
    const healthPort = (health.server.address() as AddressInfo).port;
    logger.info({ kubeconfig: source, namespace: flags.namespace, leaderElect: flags.leaderElect, healthPort }, 'cdi-controller starting');

    let stopController: (() => Promise<void>) | undefined;
    const lead = (signal: AbortSignal) => {
      isLeader.set({ name: CdiLeaderLockName }, 1);
      const workerImages = {
        ...(flags.importerImage ? { importer: flags.importerImage } : {}),
        ...(flags.uploadserverImage ? { uploadServer: flags.uploadserverImage } : {}),
        ...(flags.clonerImage ? { cloner: flags.clonerImage } : {}),
      };
      // The DataVolume controller issues upload-pod certificates from the signers, so it starts
      // once the certificate controller has made its first pass over them.
      const startReconciling = () =>
        startController({ kubeConfig, logger, namespace: flags.namespace, workerImages, virtualMachines: 'auto', pollDigest: pollImageDigest }).then(
          (controller) => {
            stopController = () => controller.stop();
            if (signal.aborted) void controller.stop();
          },
          (err: unknown) => {
            logger.error({ err }, 'controller failed to start');
            process.exit(1);
          },
        );
      void runCertController({
        store: kubernetesCertStore(kubeConfig.makeApiClient(CoreV1Api), flags.namespace),
        specs: cdiCertSpecs(flags.namespace),
        apiServices: kubeConfig.makeApiClient(ApiregistrationV1Api),
        webhookConfigurations: kubeConfig.makeApiClient(AdmissionregistrationV1Api),
        logger,
        signal,
        onFirstPass: () => {
          if (!signal.aborted) void startReconciling();
        },
      });
    };

    const elector = flags.leaderElect
      ? new LeaderElector({
          leases: kubeConfig.makeApiClient(CoordinationV1Api),
          namespace: flags.namespace,
          identity: defaultIdentity(),
          leaseDurationMs: flags.leaseDuration,
          renewDeadlineMs: flags.renewDeadline,
          retryPeriodMs: flags.retryPeriod,
          logger,
        })
      : undefined;
    const standalone = new AbortController();
    let electing: Promise<void> | undefined;
    if (elector) {
      electing = elector.run({
        onStartedLeading: lead,
        onStoppedLeading: () => {
          isLeader.set({ name: CdiLeaderLockName }, 0);
          if (!shuttingDown) {
            logger.error({}, 'leader election lost');
            process.exit(1);
          }
        },
        onNewLeader: (identity) => logger.info({ leader: identity }, 'new leader elected'),
      });
    } else {
      lead(standalone.signal);
    }

    onShutdown(logger, async () => {
      shuttingDown = true;
      await stopController?.();
      standalone.abort();
      elector?.stop();
      // run() resolves once the lease is released, so a standby takes over at once
      await electing;
      await health.close();
    });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const cdiErr = asCdiError(err);
  process.stderr.write(`cdi-controller: ${cdiErr.code}: ${cdiErr.message}\n`);
  process.exit(cdiErr.exitCode);
}
