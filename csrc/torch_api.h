// The libtorch floor of pdenet: everything here speaks libtorch only, never N-API.
// The N-API glue (napi_*.cc) converts JavaScript values and calls these functions.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pdenet {

// ---- operators ---------------------------------------------------------------------------------
// Every tensor operation reaches libtorch through its dispatcher by schema name ("aten::conv2d",
// overload ""), so autograd, autocast and every backend apply exactly as they do in PyTorch.

/** The operator `name.overload`; throws c10::Error naming it when libtorch has no such schema. */
c10::OperatorHandle find_op(const std::string& name, const std::string& overload);

/** Runs `op` on the boxed arguments in `stack`, leaving its results there. */
void call_op(const c10::OperatorHandle& op, torch::jit::Stack& stack);

// ---- tensors and bytes -------------------------------------------------------------------------

/** A new CPU tensor of `shape` and `dtype` holding a copy of `nbytes` bytes at `data`. */
at::Tensor tensor_from_bytes(const void* data, size_t nbytes, at::IntArrayRef shape, at::ScalarType dtype);

/** Copies the elements of `t` (any layout or device) into `dst`, which holds `t.nbytes()` bytes. */
void tensor_to_bytes(const at::Tensor& t, void* dst);

// ---- serialization -----------------------------------------------------------------------------

/** Bytes in the format of Python's `torch.save` (a zip archive holding a pickle) for `value`. */
std::vector<char> pickle_save(const c10::IValue& value);

// ---- autograd ----------------------------------------------------------------------------------

void backward(const std::vector<at::Tensor>& outputs, const std::vector<at::Tensor>& grads,
              bool retain_graph, bool create_graph);

std::vector<at::Tensor> grad(const std::vector<at::Tensor>& outputs, const std::vector<at::Tensor>& inputs,
                             const std::vector<at::Tensor>& grad_outputs, bool retain_graph,
                             bool create_graph, bool allow_unused);

bool grad_enabled();
void set_grad_enabled(bool enabled);

/** CPU autocast: on or off, casting to `dtype` (bfloat16) when on; leaving it clears the cast cache. */
void set_autocast(bool enabled, at::ScalarType dtype);
bool autocast_enabled();
/** The dtype CPU autocast casts to (the last one set, also while autocast is off). */
at::ScalarType autocast_dtype();

// ---- runtime -----------------------------------------------------------------------------------

void set_num_threads(int n);
int num_threads();
void manual_seed(uint64_t seed);

struct MemoryCounts {
  int64_t bytes;       // bytes held right now by CPU tensors, autograd graphs included
  int64_t peak_bytes;  // the most held at once since the last reset
  int64_t allocations; // CPU allocations made so far
  int64_t cached_bytes; // freed large blocks the allocator keeps for reuse (not counted in bytes)
};

/** Routes libtorch's CPU allocations through a counting, caching allocator (idempotent). */
void install_counting_allocator();

/**
 * Stops libtorch from capturing a symbolized C++ backtrace in every error it raises: pdenet reports
 * errors without it, and capturing it made each error cost about 10 ms.
 */
void skip_error_backtraces();

MemoryCounts memory_counts();
void reset_peak_bytes();
/** Frees the large blocks the allocator keeps for reuse. */
void release_cached_memory();

struct BuildInfo {
  std::string version;  // libtorch version the addon was compiled against
  int cxx11_abi;
  bool mkldnn;
  bool cuda;
  std::string config;   // at::show_config()
};
BuildInfo build_info();

}  // namespace pdenet
