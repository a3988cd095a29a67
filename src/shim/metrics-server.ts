import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { log } from '../common/log';
import { enableMetrics, registry } from '../common/metrics';

/**
 * The Prometheus endpoint: `GET /metrics` in the text exposition format,
 * everything else 404. Off unless `metrics.address` is set; the address is
 * the node admin's choice (127.0.0.1 keeps it on the node, as containerd's
 * and CRI-O's defaults do).
 */
export class MetricsServer {
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => {
          log.error({ err }, 'failed to collect metrics');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('failed to collect metrics\n');
        },
      );
    });
    this.#server.keepAliveTimeout = 30_000;
  }

  /** Turns the call sites on and listens; resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    enableMetrics();
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
