// N-API glue, part 3: distributed training (distributed.h). Signatures declared in src/native/binding.ts.
#pragma once

#include <napi.h>

namespace pdenet::js {

Napi::Value distHasBackend(const Napi::CallbackInfo& info);    // (backend) -> boolean
Napi::Value distInit(const Napi::CallbackInfo& info);          // (options) -> Promise<group>
Napi::Value distAllReduce(const Napi::CallbackInfo& info);     // (group, tensors, op) -> work
Napi::Value distBroadcast(const Napi::CallbackInfo& info);     // (group, tensors, root) -> work
Napi::Value distAllGather(const Napi::CallbackInfo& info);     // (group, input, outputs) -> work
Napi::Value distBarrier(const Napi::CallbackInfo& info);       // (group) -> work
Napi::Value distWait(const Napi::CallbackInfo& info);          // (work, timeoutMs) -> undefined
Napi::Value distWaitAsync(const Napi::CallbackInfo& info);     // (work, timeoutMs) -> Promise<undefined>
Napi::Value distSumGradient(const Napi::CallbackInfo& info);   // (group, tensor) -> undefined
Napi::Value distReducer(const Napi::CallbackInfo& info);       // (group, params, names, bucketBytes, firstBucketBytes, findUnused) -> reducer
Napi::Value distPrepareBackward(const Napi::CallbackInfo& info);  // (reducer, outputs) -> undefined
Napi::Value distRelease(const Napi::CallbackInfo& info);       // (group | reducer) -> undefined

}  // namespace pdenet::js
