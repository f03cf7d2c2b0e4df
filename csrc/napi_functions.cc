// N-API glue, part 2: see napi_functions.h. Each function converts its arguments, calls the
// libtorch floor (torch_api.h) inside guard(), and converts the result back.
#include "napi_functions.h"

#include "napi_values.h"
#include "torch_api.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

namespace pdenet::js {

namespace {

Napi::Value arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

bool flag(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = arg(info, i);
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) throw ArgumentError(std::string(name) + " must be a boolean, got " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string full_name(const c10::OperatorHandle& op) {
  const auto& name = op.schema().operator_name();
  return name.overload_name.empty() ? name.name : name.name + "." + name.overload_name;
}

// Runs the operator in info[0] on info[1..]; the results are left on `stack`.
void run(const Napi::CallbackInfo& info, torch::jit::Stack& stack) {
  const c10::OperatorHandle& op = unwrap_op(arg(info, 0));
  push_arguments(info, 1, op.schema(), stack);
  call_op(op, stack);
}

std::string called_op(const Napi::CallbackInfo& info) {
  Napi::Value v = arg(info, 0);
  try {
    return full_name(unwrap_op(v));
  } catch (...) {
    return "call";
  }
}

}  // namespace

// ---- operators ---------------------------------------------------------------------------------

Napi::Value findOp(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "findOp", [&] {
    Napi::Value name = arg(info, 0), overload = arg(info, 1);
    if (!name.IsString()) throw ArgumentError("the operator name must be a string such as \"aten::add\"");
    std::string o = overload.IsString() ? overload.As<Napi::String>().Utf8Value() : "";
    return wrap_op(info.Env(), find_op(name.As<Napi::String>().Utf8Value(), o));
  });
}

Napi::Value opSchema(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "opSchema", [&] {
    std::ostringstream out;
    out << unwrap_op(arg(info, 0)).schema();
    return Napi::String::New(info.Env(), out.str());
  });
}

Napi::Value call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] { return called_op(info); }, [&] {
    torch::jit::Stack stack;
    run(info, stack);
    report_external_memory(env);
    if (stack.empty()) return env.Undefined();
    if (stack.size() == 1) return to_js(env, stack[0]);
    Napi::Array out = Napi::Array::New(env, stack.size());
    for (size_t i = 0; i < stack.size(); ++i) out.Set(i, to_js(env, stack[i]));
    return static_cast<Napi::Value>(out);
  });
}

Napi::Value callInPlace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] { return called_op(info); }, [&] {
    torch::jit::Stack stack;
    run(info, stack);
    return env.Undefined();
  });
}

// ---- tensors -----------------------------------------------------------------------------------

Napi::Value fromBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, "fromBytes", [&] {
    // The shape and dtype first: converting them may run JavaScript (a getter) that detaches the data.
    std::vector<int64_t> shape = to_int64_list(arg(info, 1), "the shape");
    for (int64_t d : shape) {
      if (d < 0) throw ArgumentError("the shape may not hold negative sizes");
    }
    at::ScalarType dtype = to_dtype(arg(info, 2));
    Napi::Value bytes = arg(info, 0);
    void* data = nullptr;
    size_t nbytes = 0;
    if (bytes.IsTypedArray()) {
      // napi_get_typedarray_info also reads arrays over a SharedArrayBuffer, which Napi::ArrayBuffer cannot.
      napi_typedarray_type type;
      size_t length = 0;
      if (napi_get_typedarray_info(env, bytes, &type, &length, &data, nullptr, nullptr) != napi_ok) {
        throw ArgumentError("the data could not be read");
      }
      nbytes = bytes.As<Napi::TypedArray>().ByteLength();
    } else if (bytes.IsArrayBuffer()) {
      auto a = bytes.As<Napi::ArrayBuffer>();
      data = a.Data();
      nbytes = a.ByteLength();
    } else {
      throw ArgumentError("the data must be a TypedArray or an ArrayBuffer, got " + describe(bytes));
    }
    Napi::Value t = wrap_tensor(env, tensor_from_bytes(data, nbytes, shape, dtype));
    report_external_memory(env);
    return t;
  });
}

Napi::Value toBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, "toBytes", [&] {
    const at::Tensor& t = unwrap_tensor(arg(info, 0), "the tensor");
    const size_t nbytes = t.numel() * t.element_size();
    if (nbytes == 0) return static_cast<Napi::Value>(Napi::ArrayBuffer::New(env, 0));
    // The buffer is allocated here, not by V8: V8 ends the process when it cannot allocate one.
    void* data = std::malloc(nbytes);
    if (data == nullptr) {
      throw ArgumentError("cannot allocate the " + std::to_string(nbytes) + " bytes the tensor's elements need");
    }
    try {
      tensor_to_bytes(t, data);
      return static_cast<Napi::Value>(
          Napi::ArrayBuffer::New(env, data, nbytes, [](Napi::Env, void* p) { std::free(p); }));
    } catch (...) {
      std::free(data);
      throw;
    }
  });
}

Napi::Value shape(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "shape", [&] {
    auto sizes = unwrap_tensor(arg(info, 0), "the tensor").sizes();
    Napi::Array out = Napi::Array::New(info.Env(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) out.Set(i, Napi::Number::New(info.Env(), sizes[i]));
    return static_cast<Napi::Value>(out);
  });
}

Napi::Value dtype(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "dtype", [&] {
    auto t = unwrap_tensor(arg(info, 0), "the tensor").scalar_type();
    return Napi::Number::New(info.Env(), static_cast<int>(t));
  });
}

Napi::Value device(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "device", [&] {
    return Napi::String::New(info.Env(), unwrap_tensor(arg(info, 0), "the tensor").device().str());
  });
}

Napi::Value isContiguous(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "isContiguous", [&] {
    const at::Tensor& t = unwrap_tensor(arg(info, 0), "the tensor");
    if (arg(info, 1).IsUndefined()) return Napi::Boolean::New(info.Env(), t.is_contiguous());
    const int64_t format = to_int64(arg(info, 1), "the memory format");
    if (format != static_cast<int64_t>(c10::MemoryFormat::Contiguous) &&
        format != static_cast<int64_t>(c10::MemoryFormat::ChannelsLast)) {
      throw ArgumentError("the memory format must be 0 (contiguous) or 2 (channels-last), got " + std::to_string(format));
    }
    return Napi::Boolean::New(info.Env(), t.is_contiguous(static_cast<c10::MemoryFormat>(format)));
  });
}

Napi::Value dispose(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "dispose", [&] {
    dispose_tensor(arg(info, 0));
    report_external_memory(info.Env());
    return info.Env().Undefined();
  });
}

// ---- serialization -----------------------------------------------------------------------------

Napi::Value pickleSave(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "pickleSave", [&] {
    std::vector<char> bytes = pickle_save(to_generic_ivalue(arg(info, 0), "the value"));
    Napi::ArrayBuffer out = Napi::ArrayBuffer::New(info.Env(), bytes.size());
    std::memcpy(out.Data(), bytes.data(), bytes.size());
    return static_cast<Napi::Value>(out);
  });
}

// ---- autograd ----------------------------------------------------------------------------------

Napi::Value requiresGrad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "requiresGrad", [&] {
    return Napi::Boolean::New(info.Env(), unwrap_tensor(arg(info, 0), "the tensor").requires_grad());
  });
}

Napi::Value setRequiresGrad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "requiresGrad_", [&] {
    at::Tensor t = unwrap_tensor(arg(info, 0), "the tensor");
    t.set_requires_grad(flag(info, 1, "requiresGrad"));
    return info.Env().Undefined();
  });
}

Napi::Value isLeaf(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "isLeaf", [&] {
    return Napi::Boolean::New(info.Env(), unwrap_tensor(arg(info, 0), "the tensor").is_leaf());
  });
}

Napi::Value grad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "grad", [&] {
    return wrap_tensor(info.Env(), unwrap_tensor(arg(info, 0), "the tensor").grad());
  });
}

Napi::Value setGrad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "setGrad", [&] {
    at::Tensor t = unwrap_tensor(arg(info, 0), "the tensor");
    Napi::Value g = arg(info, 1);
    if (g.IsNull() || g.IsUndefined()) {
      t.mutable_grad() = at::Tensor();
      return info.Env().Undefined();
    }
    const at::Tensor& grad = unwrap_tensor(g, "the gradient");
    // As PyTorch's `tensor.grad = g`: a gradient of another shape, dtype or device would surface later,
    // far from its cause (or broadcast silently in an optimizer).
    if (grad.sizes() != t.sizes() || grad.scalar_type() != t.scalar_type() || grad.device() != t.device()) {
      std::ostringstream msg;
      msg << "the gradient must match the tensor (" << t.sizes() << ", " << t.scalar_type() << ", " << t.device()
          << "), got " << grad.sizes() << ", " << grad.scalar_type() << ", " << grad.device();
      throw ArgumentError(msg.str());
    }
    t.mutable_grad() = grad;
    return info.Env().Undefined();
  });
}

Napi::Value backward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "backward", [&] {
    auto outputs = to_tensor_list(arg(info, 0), "the outputs", false);
    auto grads = to_tensor_list(arg(info, 1), "the gradients", true);
    pdenet::backward(outputs, grads, flag(info, 2, "retainGraph"), flag(info, 3, "createGraph"));
    report_external_memory(info.Env());
    return info.Env().Undefined();
  });
}

Napi::Value autogradGrad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "grad", [&] {
    auto outputs = to_tensor_list(arg(info, 0), "the outputs", false);
    auto inputs = to_tensor_list(arg(info, 1), "the inputs", false);
    auto grad_outputs = to_tensor_list(arg(info, 2), "the output gradients", true);
    auto result = pdenet::grad(outputs, inputs, grad_outputs, flag(info, 3, "retainGraph"),
                               flag(info, 4, "createGraph"), flag(info, 5, "allowUnused"));
    return static_cast<Napi::Value>(from_tensor_list(info.Env(), result));
  });
}

Napi::Value gradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), grad_enabled());
}

Napi::Value setGradEnabled(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "setGradEnabled", [&] {
    set_grad_enabled(flag(info, 0, "enabled"));
    return info.Env().Undefined();
  });
}

Napi::Value autocastEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), autocast_enabled());
}

Napi::Value autocastDtype(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(autocast_dtype()));
}

Napi::Value setAutocast(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "setAutocast", [&] {
    set_autocast(flag(info, 0, "enabled"), to_dtype(arg(info, 1)));
    return info.Env().Undefined();
  });
}

// ---- runtime -----------------------------------------------------------------------------------

Napi::Value numThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), num_threads());
}

Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "setNumThreads", [&] {
    // More threads than this cannot help, and creating them can take minutes or end the process
    // (OpenMP exits when the system refuses a thread).
    const int64_t most = std::max<int64_t>(256, 4 * static_cast<int64_t>(std::thread::hardware_concurrency()));
    const int64_t n = to_int64(arg(info, 0), "the number of threads");
    if (n < 1 || n > most) {
      throw ArgumentError("the number of threads must be between 1 and " + std::to_string(most) + ", got " +
                          std::to_string(n));
    }
    set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "manualSeed", [&] {
    int64_t seed = to_int64(arg(info, 0), "the seed");
    if (seed < 0) throw ArgumentError("the seed must be a non-negative integer");
    pdenet::manual_seed(static_cast<uint64_t>(seed));
    return info.Env().Undefined();
  });
}

Napi::Value memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemoryCounts counts = memory_counts();
  Napi::Object out = Napi::Object::New(env);
  out.Set("liveTensors", Napi::Number::New(env, static_cast<double>(live_tensors())));
  out.Set("bytes", Napi::Number::New(env, static_cast<double>(counts.bytes)));
  out.Set("peakBytes", Napi::Number::New(env, static_cast<double>(counts.peak_bytes)));
  out.Set("allocations", Napi::Number::New(env, static_cast<double>(counts.allocations)));
  out.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(counts.cached_bytes)));
  return out;
}

Napi::Value releaseCachedMemory(const Napi::CallbackInfo& info) {
  release_cached_memory();
  return info.Env().Undefined();
}

Napi::Value resetPeakMemory(const Napi::CallbackInfo& info) {
  reset_peak_bytes();
  return info.Env().Undefined();
}

Napi::Value buildInfo(const Napi::CallbackInfo& info) {
  return guard(info.Env(), "buildInfo", [&] {
    Napi::Env env = info.Env();
    BuildInfo b = build_info();
    Napi::Object out = Napi::Object::New(env);
    out.Set("version", b.version);
    out.Set("cxx11Abi", Napi::Number::New(env, b.cxx11_abi));
    out.Set("mkldnn", Napi::Boolean::New(env, b.mkldnn));
    out.Set("cuda", Napi::Boolean::New(env, b.cuda));
    out.Set("config", b.config);
    return static_cast<Napi::Value>(out);
  });
}

Napi::Value setErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "setErrorClass: expected the TorchError constructor");
  }
  env.GetInstanceData<AddonData>()->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

}  // namespace pdenet::js
