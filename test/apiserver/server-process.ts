import { silentLogger } from '../../src/api/logger.ts';
import { startApiServer } from '../../src/apiserver/index.ts';

/**
 * Runs the API server as its own process (for kill -9 tests and the benchmark):
 *   node test/apiserver/server-process.ts <dataDir> [port]
 * prints one JSON line {url, token, kubeconfigPath, pid} when ready; SIGTERM closes it.
 */
const [dataDir, port] = process.argv.slice(2);
if (!dataDir) {
  console.error('usage: server-process.ts <dataDir> [port]');
  process.exit(64);
}
const handle = await startApiServer({ dataDir, port: Number(port ?? 0), logger: silentLogger });
console.log(JSON.stringify({ url: handle.url, token: handle.token, kubeconfigPath: handle.kubeconfigPath, pid: process.pid }));
process.on('SIGTERM', () => {
  void handle.close().then(() => process.exit(0));
});
