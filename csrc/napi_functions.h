// N-API glue, part 2: the functions JavaScript calls. Their TypeScript signatures are declared once,
// in src/native/binding.ts; keep the two lists in the same order.
#pragma once

#include <napi.h>

namespace pdenet::js {

// operators
Napi::Value findOp(const Napi::CallbackInfo& info);        // (name, overload) -> op
Napi::Value opSchema(const Napi::CallbackInfo& info);      // (op) -> string
Napi::Value call(const Napi::CallbackInfo& info);          // (op, ...args) -> results
Napi::Value callInPlace(const Napi::CallbackInfo& info);   // (op, ...args) -> undefined

// tensors
Napi::Value fromBytes(const Napi::CallbackInfo& info);     // (bytes, shape, dtype) -> tensor
Napi::Value toBytes(const Napi::CallbackInfo& info);       // (tensor) -> ArrayBuffer
Napi::Value shape(const Napi::CallbackInfo& info);         // (tensor) -> number[]
Napi::Value dtype(const Napi::CallbackInfo& info);         // (tensor) -> dtype code
Napi::Value device(const Napi::CallbackInfo& info);        // (tensor) -> "cpu" | "cuda:0" | ...
Napi::Value isContiguous(const Napi::CallbackInfo& info);  // (tensor, memoryFormat?) -> boolean
Napi::Value dispose(const Napi::CallbackInfo& info);       // (tensor) -> undefined

// serialization
Napi::Value pickleSave(const Napi::CallbackInfo& info);    // (value) -> ArrayBuffer (torch.save format)

// autograd
Napi::Value requiresGrad(const Napi::CallbackInfo& info);  // (tensor) -> boolean
Napi::Value setRequiresGrad(const Napi::CallbackInfo& info);
Napi::Value isLeaf(const Napi::CallbackInfo& info);
Napi::Value grad(const Napi::CallbackInfo& info);          // (tensor) -> tensor | null
Napi::Value setGrad(const Napi::CallbackInfo& info);       // (tensor, tensor | null)
Napi::Value backward(const Napi::CallbackInfo& info);      // (outputs, grads, retain, create)
Napi::Value autogradGrad(const Napi::CallbackInfo& info);  // (outputs, inputs, gradOutputs, retain, create, allowUnused)
Napi::Value gradEnabled(const Napi::CallbackInfo& info);
Napi::Value setGradEnabled(const Napi::CallbackInfo& info);
Napi::Value autocastEnabled(const Napi::CallbackInfo& info);
Napi::Value autocastDtype(const Napi::CallbackInfo& info);   // () -> dtype code
Napi::Value setAutocast(const Napi::CallbackInfo& info);   // (enabled, dtype)

// runtime
Napi::Value numThreads(const Napi::CallbackInfo& info);
Napi::Value setNumThreads(const Napi::CallbackInfo& info);
Napi::Value manualSeed(const Napi::CallbackInfo& info);
Napi::Value memory(const Napi::CallbackInfo& info);        // () -> {liveTensors, bytes, peakBytes, allocations}
Napi::Value resetPeakMemory(const Napi::CallbackInfo& info);
Napi::Value releaseCachedMemory(const Napi::CallbackInfo& info);
Napi::Value buildInfo(const Napi::CallbackInfo& info);
Napi::Value setErrorClass(const Napi::CallbackInfo& info); // (TorchError constructor)

}  // namespace pdenet::js
