import type { handleServerStreamingCall, handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ImageServiceHandlers } from '../../cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceHandlers } from '../../cri/generated/runtime/v1/RuntimeService';
import type { StreamHandler, UnaryHandler } from './wrap';

/**
 * Typed handler tables derived from the generated service interfaces: each RPC
 * is a plain `(req, ctx) => Promise<res>` (or a `(req, send, ctx)` stream), with
 * no grpc-js types in sight. Missing entries answer UNIMPLEMENTED.
 */
type Known<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

type Plain<H> =
  H extends handleUnaryCall<infer Req, infer Res>
    ? UnaryHandler<Req, Res>
    : H extends handleServerStreamingCall<infer Req, infer Res>
      ? StreamHandler<Req, Res>
      : never;

export type ServiceImpl<S extends UntypedServiceImplementation> = { [K in keyof Known<S>]?: Plain<Known<S>[K]> };

export type RuntimeImpl = ServiceImpl<RuntimeServiceHandlers>;
export type ImageImpl = ServiceImpl<ImageServiceHandlers>;

export type RuntimeHandler<K extends keyof RuntimeImpl> = NonNullable<RuntimeImpl[K]>;
export type ImageHandler<K extends keyof ImageImpl> = NonNullable<ImageImpl[K]>;
