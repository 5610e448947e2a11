import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Folder dependency rules (docs/architecture.md, "Dependency rules"): each layer of src/ lists the
 * layers it may import; every other src/ folder is off limits, as are the images' mains (importer/,
 * uploadserver/, uploadproxy/), test/ and bench/. A layer is a folder of src/ (or a file of src/'s
 * root); `cluster/pki` is a layer of its own. An allowance narrower than a layer (one file) is an
 * explicit exception with its reason.
 */
const serverPackages = ['pino', 'prom-client', '@kubernetes/*', 'undici', 'fastify', '@fastify/*'];

export const layers = {
  api: { allow: [], packages: serverPackages, why: 'types, schemas, the error table: imports nothing of ours' },
  'log-destination': { allow: [], why: 'where pino writes' },
  log: { allow: ['log-destination'], why: 'the pino logger' },
  protobuf: { allow: [], why: 'Kubernetes protobuf wire codec' },
  format: { allow: ['api'], packages: serverPackages, why: 'the pure format engine: no logger, metrics, HTTP or Kubernetes client' },
  sources: { allow: ['api', 'format'], why: 'import sources feed the engine' },
  upload: { allow: ['api'], why: 'bits both upload hops share' },
  // admission.test.ts applies the webhooks' JSONPatch answers with the API server's patcher
  admission: { allow: ['api'], testAllow: ['apiserver'], why: 'CDI\'s admission webhooks as pure AdmissionReview functions, served by cdi-apiserver and run in-process by cdi serve' },
  worker: { allow: ['api', 'format', 'log', 'cluster/pki'], packages: ['pino'], why: 'the worker pod contract; format for the block device size probe, cluster/pki for the metrics server certificate' },
  importer: { allow: ['api', 'format', 'sources', 'worker', 'cluster/pki'], why: 'importer library; cluster/pki for the metrics server certificate' },
  cloner: { allow: ['api', 'format', 'sources', 'worker'], why: 'cloner library' },
  'upload-server': { allow: ['api', 'format', 'upload', 'worker'], why: 'upload server library' },
  'upload-proxy': { allow: ['api', 'upload'], why: 'upload proxy library' },
  // pod-plan.test.ts checks the agent runs the pods the controller renders; pod-admission.test.ts admits launcher pods built from a domain
  node: { allow: ['api', 'sources'], testAllow: ['controller', 'vm'], why: 'the local node agent speaks the Kubernetes API, runs worker processes and pulls image volumes as a kubelet does' },
  // the local VM runtime: its launcher finds QEMU as the node agent finds its tools
  vm: { allow: ['api', 'node/tools.ts'], why: 'the local VM runtime: domain from a VMI spec, QEMU command line, run strategies, cloud-init ISO, launcher' },
  controller: { allow: ['api', 'cluster/pki', 'vm'], why: 'the controller speaks only the Kubernetes API; cluster/pki for certificate rotation, vm for the VMI domain and run strategies' },
  'cluster/pki': { allow: ['api'], why: 'certificates with node:crypto, shared by every TLS endpoint' },
  // the apiserver serves pod logs from, and seeds the storage class of, the node agent's layout
  apiserver: { allow: ['api', 'admission', 'protobuf', 'cluster/pki', 'node/layout.ts', 'vm'], why: 'the embedded API server' },
  cluster: { allow: ['api', 'admission', 'log', 'controller', 'sources', 'upload', 'upload-proxy', 'worker'], why: 'cluster-mode mains: controller, token API, upload proxy server' },
  cli: { allow: ['*'], why: 'the cdi command composes everything in src/' },
};

/** Top-level trees: the images' mains import only src/; nothing imports them. */
const mains = ['importer', 'uploadserver', 'uploadproxy', 'virtlauncher'];
const outsideSrc = [...mains, 'test', 'bench'];
const isFileLayer = (name) => ['log', 'log-destination'].includes(name);
const maxDepth = 4;

/** gitignore patterns, relative to a file `depth` folders below src/, for what `layer` may not import. */
function forbidden(layer, depth, test = false) {
  const toSrc = depth === 0 ? './' : '../'.repeat(depth);
  const allow = [...layers[layer].allow, ...(test ? layers[layer].testAllow ?? [] : [])];
  if (allow.includes('*')) return outsideSrc.map((tree) => `${'../'.repeat(depth + 1)}${tree}/*`);
  const patterns = [];
  for (const other of Object.keys(layers)) {
    if (other === layer || allow.includes(other) || other.includes('/')) continue;
    if (isFileLayer(other)) {
      patterns.push(`${toSrc}${other}.ts`);
      continue;
    }
    patterns.push(`${toSrc}${other}/*`);
    // re-include what is allowed inside a forbidden folder (cluster/pki, node/layout.ts)
    for (const inner of allow.filter((a) => a.startsWith(`${other}/`))) patterns.push(`!${toSrc}${inner}`);
  }
  return [...patterns, ...(layers[layer].packages ?? []), ...outsideSrc.map((tree) => `${'../'.repeat(depth + 1)}${tree}/*`)];
}

function boundaries() {
  // a file in no layer still may not reach outside src/ (test/docs/boundaries.test.ts wants a layer for every folder)
  const configs = Array.from({ length: maxDepth + 1 }, (_, depth) => ({
    files: [`src/${'*/'.repeat(depth)}*.ts`],
    ignores: ['**/*.test.ts'],
    rules: rule(outsideSrc.map((tree) => `${'../'.repeat(depth + 1)}${tree}/*`), undefined, 'src/ never imports the images\' mains, test/ or bench/'),
  }));
  for (const layer of Object.keys(layers)) {
    const base = isFileLayer(layer) ? 0 : layer.split('/').length;
    for (let depth = base; depth <= (isFileLayer(layer) ? 0 : maxDepth); depth++) {
      const files = isFileLayer(layer) ? [`src/${layer}.ts`] : [`src/${layer}/${'*/'.repeat(depth - base)}*.ts`];
      // tests beside the code may use test/support
      const testPatterns = forbidden(layer, depth, true).filter((p) => !p.endsWith('test/*'));
      const ignores = layer === 'cluster' ? ['src/cluster/pki/**'] : [];
      configs.push(
        { files, ignores: [...ignores, '**/*.test.ts'], rules: rule(forbidden(layer, depth), layer) },
        { files: files.map((f) => f.replace(/\.ts$/, '.test.ts')), ignores, rules: rule(testPatterns, layer) },
      );
    }
  }
  for (const main of mains) {
    const others = outsideSrc.filter((tree) => tree !== main).map((tree) => `../${tree}/*`);
    configs.push({ files: [`${main}/**/*.ts`], rules: rule(others, main, `${main}/ is an image's main: it imports only src/`) });
  }
  return configs;
}

function rule(group, layer, message = `src/${layer} may import only ${layers[layer]?.allow.join(', ') || 'nothing of ours'} (see docs/architecture.md)`) {
  return { 'no-restricted-imports': ['error', { patterns: [{ group, message }] }] };
}

export default tseslint.config(
  { ignores: ['node_modules/**', '.runtime/**', '.cache/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  ...boundaries(),
);
