// N-API glue, part 1: JavaScript values <-> libtorch values, tensor handles, and the one error path.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <stdexcept>
#include <string>

namespace pdenet {

/** A bad argument found while converting JavaScript values; reported like any libtorch error. */
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** Per-addon state, kept as the environment's instance data. */
struct AddonData {
  Napi::FunctionReference error_class;  // the TypeScript TorchError, set once at load
  int64_t reported_bytes = 0;           // native bytes already reported to V8
};

/** How an error message shows a JavaScript value: "the string \"x\"", "NaN", "a tensor", "an object", … */
std::string describe(const Napi::Value& value);

/** Sets up the addon's state and libtorch's counting allocator; called once at load. */
void init_addon(Napi::Env env);

// ---- handles -----------------------------------------------------------------------------------
// A tensor handle is an empty object wrapping (napi_wrap) a heap `at::Tensor`, type-tagged so that no
// other value can be mistaken for one. dispose() releases the tensor and removes the wrap at once; the
// finalizer is only a backstop. Operator handles are type-tagged Externals.

Napi::Value wrap_tensor(Napi::Env env, at::Tensor tensor);  // an undefined tensor becomes null
const at::Tensor& unwrap_tensor(const Napi::Value& value, const std::string& what);
void dispose_tensor(const Napi::Value& value);
int64_t live_tensors();

Napi::Value wrap_op(Napi::Env env, const c10::OperatorHandle& op);
const c10::OperatorHandle& unwrap_op(const Napi::Value& value);

// ---- conversions -------------------------------------------------------------------------------

/** Pushes `info[first..]` onto `stack` as the arguments of `schema`, filling defaults. */
void push_arguments(const Napi::CallbackInfo& info, size_t first, const c10::FunctionSchema& schema,
                    torch::jit::Stack& stack);

/** A result as JavaScript: tensors as handles, tuples and lists as arrays, dicts as Maps. */
Napi::Value to_js(Napi::Env env, const c10::IValue& value);

/** A JavaScript value as a generic IValue (for pickling): see pickleSave in napi_functions.h. */
c10::IValue to_generic_ivalue(const Napi::Value& value, const std::string& what);

int64_t to_int64(const Napi::Value& value, const std::string& what);
std::vector<int64_t> to_int64_list(const Napi::Value& value, const std::string& what);
std::vector<at::Tensor> to_tensor_list(const Napi::Value& value, const std::string& what, bool allow_null);
Napi::Array from_tensor_list(Napi::Env env, const std::vector<at::Tensor>& tensors);
at::ScalarType to_dtype(const Napi::Value& value);

// ---- errors ------------------------------------------------------------------------------------

/** Throws the TypeScript TorchError(message, op) as a JavaScript exception. */
[[noreturn]] void throw_torch_error(Napi::Env env, const std::string& op, const std::string& message);

/** Tells V8 how many native bytes tensors hold, so that garbage collection sees them. */
void report_external_memory(Napi::Env env);

inline std::string op_name(const char* name) { return name; }
template <typename NameFn>
std::string op_name(NameFn&& name) {
  return name();
}

/**
 * The one error path: runs `body`, turning every C++ exception (c10::Error, std::exception, or
 * anything else) into a JavaScript TorchError that names the operation (`op`: a string, or a
 * function producing one, called only when there is an error). No C++ exception crosses N-API.
 */
template <typename Op, typename Body>
Napi::Value guard(Napi::Env env, Op&& op, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw_torch_error(env, op_name(op), e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw_torch_error(env, op_name(op), e.what());
  } catch (...) {
    throw_torch_error(env, op_name(op), "unknown C++ exception");
  }
}

}  // namespace pdenet
