import type { ShimDeps } from '../deps';
import type { RuntimeImpl } from '../handlers';
import { CpuRates } from '../translate/stats';
import { attachUrl } from './attach';
import { checkpointContainer } from './checkpoint-container';
import { containerStatsHandler, listContainerStats } from './container-stats';
import { containerStatusHandler } from './container-status';
import { createContainer } from './create-container';
import { execUrl } from './exec';
import { execSync } from './exec-sync';
import { getContainerEvents } from './get-container-events';
import { listContainers } from './list-containers';
import { listPodSandbox } from './list-pod-sandbox';
import { listPodSandboxStats, podSandboxStatsHandler } from './pod-sandbox-stats';
import { listMetricDescriptors, listPodSandboxMetrics } from './pod-sandbox-metrics';
import { portForwardUrl } from './port-forward';
import { podSandboxStatusHandler } from './pod-sandbox-status';
import { removeContainer } from './remove-container';
import { removePodSandbox } from './remove-pod-sandbox';
import { reopenContainerLog } from './reopen-container-log';
import { runPodSandbox } from './run-pod-sandbox';
import { runtimeConfig } from './runtime-config';
import { startContainer } from './start-container';
import { StatsCollector } from './stats';
import { status } from './runtime-status';
import { stopContainer } from './stop-container';
import { stopPodSandbox } from './stop-pod-sandbox';
import { streamOf } from './stream-lists';
import { updateContainerResources } from './update-container-resources';
import { updatePodSandboxResources } from './update-pod-sandbox-resources';
import { updateRuntimeConfig } from './update-runtime-config';
import { version } from './version';

/** The RuntimeService table: one file per RPC; RPCs not listed answer UNIMPLEMENTED. */
export function runtimeHandlers(deps: ShimDeps): RuntimeImpl {
  const stats = new StatsCollector(deps, new CpuRates());
  const lists = {
    sandboxes: listPodSandbox(deps),
    containers: listContainers(deps),
    containerStats: listContainerStats(deps, stats),
    sandboxStats: listPodSandboxStats(deps, stats),
    sandboxMetrics: listPodSandboxMetrics(deps),
  };
  return {
    Version: version(deps),
    Status: status(deps),
    RuntimeConfig: runtimeConfig(deps),
    UpdateRuntimeConfig: updateRuntimeConfig(deps),
    RunPodSandbox: runPodSandbox(deps),
    StopPodSandbox: stopPodSandbox(deps),
    RemovePodSandbox: removePodSandbox(deps),
    PodSandboxStatus: podSandboxStatusHandler(deps),
    ListPodSandbox: lists.sandboxes,
    CreateContainer: createContainer(deps),
    StartContainer: startContainer(deps),
    StopContainer: stopContainer(deps),
    RemoveContainer: removeContainer(deps),
    ContainerStatus: containerStatusHandler(deps),
    ListContainers: lists.containers,
    UpdateContainerResources: updateContainerResources(deps),
    UpdatePodSandboxResources: updatePodSandboxResources(deps),
    ReopenContainerLog: reopenContainerLog(deps),
    CheckpointContainer: checkpointContainer(deps),
    ExecSync: execSync(deps),
    Exec: execUrl(deps),
    Attach: attachUrl(deps),
    PortForward: portForwardUrl(deps),
    ContainerStats: containerStatsHandler(deps, stats),
    ListContainerStats: lists.containerStats,
    PodSandboxStats: podSandboxStatsHandler(deps, stats),
    ListPodSandboxStats: lists.sandboxStats,
    GetContainerEvents: getContainerEvents(deps),
    StreamPodSandboxes: streamOf(lists.sandboxes, (r) => r.items, (pod_sandboxes) => ({ pod_sandboxes })),
    StreamContainers: streamOf(lists.containers, (r) => r.containers, (containers) => ({ containers })),
    StreamContainerStats: streamOf(lists.containerStats, (r) => r.stats, (container_stats) => ({ container_stats })),
    StreamPodSandboxStats: streamOf(lists.sandboxStats, (r) => r.stats, (pod_sandbox_stats) => ({ pod_sandbox_stats })),
    ListMetricDescriptors: listMetricDescriptors(),
    ListPodSandboxMetrics: lists.sandboxMetrics,
    // A pod's metrics run to a few KiB per container: ten pods a message stays far below 4 MiB.
    StreamPodSandboxMetrics: streamOf(lists.sandboxMetrics, (r) => r.pod_metrics, (pod_sandbox_metrics) => ({ pod_sandbox_metrics }), 10),
  };
}
