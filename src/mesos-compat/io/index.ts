export { execSession, type ExecSessionOptions } from './exec-session';
export type { SessionIO, SessionTerminalSize } from './session-io';
export { portForwardSession, type PortForwardSessionOptions } from './port-forward-session';
export { attachSession, type AttachSessionOptions } from './attach-session';
export { ContainerSessions } from './container-sessions';
export type { AttachTarget, ExecTarget, IoTargets, PortForwardTarget } from './targets';
