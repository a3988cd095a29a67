/**
 * `@kubernetes/client-node` (ESM) pointed at a CRI streaming URL. Its
 * `Exec`/`Attach` build apiserver paths; the adapter keeps their query
 * string but swaps the path for the URL's `/<kind>/<token>`, so everything
 * else (subprotocol offer, framing, stdin, resize, v5 close) is the
 * library's own code.
 *
 * NOTE: client-node 2.x depends on undici 8, which needs Node >= 22.19; on
 * Node 20 its `KubeConfig` and `PortForward` modules fail to load. Only
 * modules that do not import undici are used here, deep-imported, and the
 * handler gets a stand-in for `KubeConfig` with the two methods it calls.
 */
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js' with { 'resolution-mode': 'import' };
import type { Exec } from '@kubernetes/client-node/dist/exec.js' with { 'resolution-mode': 'import' };
import type { Attach } from '@kubernetes/client-node/dist/attach.js' with { 'resolution-mode': 'import' };
import type { WebSocketHandler, WebSocketInterface } from '@kubernetes/client-node/dist/web-socket-handler.js' with { 'resolution-mode': 'import' };

export interface Kube {
  readonly Exec: typeof Exec;
  readonly Attach: typeof Attach;
  readonly WebSocketHandler: typeof WebSocketHandler;
}

export async function kube(): Promise<Kube> {
  const [{ Exec }, { Attach }, { WebSocketHandler }] = await Promise.all([
    import('@kubernetes/client-node/dist/exec.js'),
    import('@kubernetes/client-node/dist/attach.js'),
    import('@kubernetes/client-node/dist/web-socket-handler.js'),
  ]);
  return { Exec, Attach, WebSocketHandler };
}

/** The parts of `KubeConfig` that `WebSocketHandler.connect` uses. */
export function configFor(url: string, opts: { ca?: string } = {}): KubeConfig {
  const origin = new URL(url).origin;
  const stub = {
    getCurrentCluster: () => ({ name: 'cri', server: origin, skipTLSVerify: false }),
    applyToHTTPSOptions: async (o: { ca?: string }) => {
      if (opts.ca) o.ca = opts.ca;
    },
  };
  return stub as unknown as KubeConfig;
}

export async function handlerFor(url: string, opts: { ca?: string } = {}): Promise<WebSocketInterface> {
  const { WebSocketHandler } = await kube();
  const u = new URL(url);
  const real = new WebSocketHandler(configFor(url, opts));
  return {
    connect: (path, text, binary) => {
      const q = path.indexOf('?');
      return real.connect(u.pathname + (q >= 0 ? path.slice(q) : ''), text, binary);
    },
  };
}
