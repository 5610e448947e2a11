import type { Agent } from 'undici';
import { AdmissionApiVersion, type AdmissionRequest, type AdmissionResponse } from '../../admission/review.ts';
import type { Webhook } from './config.ts';

/**
 * One call to an admission webhook over HTTPS, as kube-apiserver makes it: POST of an
 * AdmissionReview v1 to the URL (with `?timeout=Ns`), the configuration's caBundle as the only
 * trust when it has one, the timeout on the whole exchange, and the answer checked to be a v1
 * AdmissionReview for the same uid. A `service` reference has no cluster network to go to here:
 * it is dialled on 127.0.0.1 at its port (443 by default), and the serving certificate must be
 * valid for `<service>.<namespace>.svc`, the name kube-apiserver verifies.
 */
// undici is loaded with the first call: a server with no webhooks registered does not carry it.
const undici = () => import('undici');
export class WebhookCallError extends Error {}

interface Target {
  url: string;
  /** The URL kube-apiserver would name in its error text. */
  shown: string;
  servername?: string;
}

function targetOf(w: Webhook, timeoutSeconds: number): Target {
  const timeout = `timeout=${timeoutSeconds}s`;
  const withTimeout = (u: string) => `${u}${u.includes('?') ? '&' : '?'}${timeout}`;
  const service = w.clientConfig.service;
  if (service) {
    const port = service.port ?? 443;
    const host = `${service.name}.${service.namespace}.svc`;
    const path = service.path ?? '';
    return { url: withTimeout(`https://127.0.0.1:${port}${path}`), shown: withTimeout(`https://${host}:${port}${path}`), servername: host };
  }
  return { url: withTimeout(w.clientConfig.url ?? ''), shown: withTimeout(w.clientConfig.url ?? '') };
}

export class WebhookCaller {
  private readonly agents = new Map<string, Agent>();

  private async agentFor(caBundle: string | undefined, servername: string | undefined): Promise<Agent> {
    const key = `${servername ?? ''}\n${caBundle ?? ''}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const ca = caBundle ? Buffer.from(caBundle, 'base64').toString() : undefined;
      const { Agent } = await undici();
      agent = new Agent({ connect: { ...(ca ? { ca } : {}), ...(servername ? { servername } : {}) } });
      this.agents.set(key, agent);
    }
    return agent;
  }

  async call(w: Webhook, admissionRequest: AdmissionRequest): Promise<AdmissionResponse> {
    const target = targetOf(w, w.timeoutSeconds);
    const failed = (why: string) => new WebhookCallError(`failed to call webhook: Post "${target.shown}": ${why}`);
    let text: string;
    let statusCode: number;
    try {
      const { request } = await undici();
      const res = await request(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ apiVersion: AdmissionApiVersion, kind: 'AdmissionReview', request: admissionRequest }),
        dispatcher: await this.agentFor(w.clientConfig.caBundle, target.servername),
        signal: AbortSignal.timeout(w.timeoutSeconds * 1000),
      });
      statusCode = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      const e = err as Error & { cause?: Error };
      const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'context deadline exceeded' : (e.cause?.message ?? e.message);
      throw failed(why);
    }
    if (statusCode < 200 || statusCode > 299) throw failed(`the server responded with status ${statusCode}: ${text.slice(0, 512)}`);
    let review: { apiVersion?: unknown; kind?: unknown; response?: AdmissionResponse };
    try {
      review = JSON.parse(text) as typeof review;
    } catch (err) {
      throw new WebhookCallError(`received invalid webhook response: ${(err as Error).message}`);
    }
    if (review?.apiVersion !== AdmissionApiVersion || review.kind !== 'AdmissionReview') {
      throw new WebhookCallError(`expected webhook response of ${AdmissionApiVersion}, Kind=AdmissionReview, got ${String(review?.apiVersion)}, Kind=${String(review?.kind)}`);
    }
    const response = review.response;
    if (!response || typeof response !== 'object') throw new WebhookCallError('webhook response was absent');
    if (response.uid !== admissionRequest.uid) throw new WebhookCallError(`expected response.uid="${admissionRequest.uid}", got "${String(response.uid)}"`);
    return response;
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }
}
