// The libtorch floor: see torch_api.h. No N-API here.
#include "torch_api.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Logging.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/version.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace pdenet {

c10::OperatorHandle find_op(const std::string& name, const std::string& overload) {
  auto op = c10::Dispatcher::singleton().findSchema({name, overload});
  TORCH_CHECK(op.has_value(), "libtorch ", TORCH_VERSION, " has no operator ", name,
              overload.empty() ? "" : ".", overload);
  return *op;
}

void call_op(const c10::OperatorHandle& op, torch::jit::Stack& stack) { op.callBoxed(&stack); }

at::Tensor tensor_from_bytes(const void* data, size_t nbytes, at::IntArrayRef shape, at::ScalarType dtype) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  TORCH_CHECK(t.nbytes() == nbytes, "shape ", shape, " of ", c10::toString(dtype), " needs ", t.nbytes(),
              " bytes of data, got ", nbytes);
  if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);
  return t;
}

void tensor_to_bytes(const at::Tensor& t, void* dst) {
  at::Tensor c = t.device().is_cpu() ? t.contiguous() : t.to(at::kCPU).contiguous();
  if (c.nbytes() > 0) std::memcpy(dst, c.data_ptr(), c.nbytes());
}

std::vector<char> pickle_save(const c10::IValue& value) { return torch::jit::pickle_save(value); }

void backward(const std::vector<at::Tensor>& outputs, const std::vector<at::Tensor>& grads,
              bool retain_graph, bool create_graph) {
  torch::autograd::backward(outputs, grads, retain_graph, create_graph);
}

std::vector<at::Tensor> grad(const std::vector<at::Tensor>& outputs, const std::vector<at::Tensor>& inputs,
                             const std::vector<at::Tensor>& grad_outputs, bool retain_graph,
                             bool create_graph, bool allow_unused) {
  return torch::autograd::grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused);
}

bool grad_enabled() { return c10::GradMode::is_enabled(); }
void set_grad_enabled(bool enabled) { c10::GradMode::set_enabled(enabled); }

void set_autocast(bool enabled, at::ScalarType dtype) {
  if (enabled) {
    at::autocast::set_autocast_cpu_dtype(dtype);
    if (!at::autocast::is_cpu_enabled()) at::autocast::increment_nesting();
    at::autocast::set_cpu_enabled(true);
  } else if (at::autocast::is_cpu_enabled()) {
    at::autocast::set_cpu_enabled(false);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  }
}

bool autocast_enabled() { return at::autocast::is_cpu_enabled(); }

void set_num_threads(int n) {
  TORCH_CHECK(n >= 1, "the number of threads must be at least 1, got ", n);
  at::set_num_threads(n);
}

int num_threads() { return at::get_num_threads(); }

void manual_seed(uint64_t seed) { at::manual_seed(seed); }

// ---- the counting CPU allocator ----------------------------------------------------------------
// Allocates exactly as libtorch's default (c10::alloc_cpu, 64-byte aligned) and counts the bytes
// held, so memory() reports what tensors and autograd graphs really occupy. The size of a block is
// read back with malloc_usable_size, so no side table is needed and raw_deleter() stays valid.

namespace {

std::atomic<int64_t> g_bytes{0};
std::atomic<int64_t> g_peak{0};
std::atomic<int64_t> g_allocations{0};

void counting_free(void* data) {
  if (data == nullptr) return;
  g_bytes -= static_cast<int64_t>(malloc_usable_size(data));
  c10::free_cpu(data);
}

struct CountingCPUAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t nbytes) const override {
    void* data = c10::alloc_cpu(nbytes);
    if (data != nullptr) {
      int64_t now = g_bytes += static_cast<int64_t>(malloc_usable_size(data));
      int64_t peak = g_peak.load();
      while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
      }
      ++g_allocations;
    }
    return {data, data, &counting_free, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &counting_free; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
#endif
};

}  // namespace

void install_counting_allocator() {
  static CountingCPUAllocator allocator;
  static bool installed = false;
  if (installed) return;
  c10::SetCPUAllocator(&allocator, /*priority=*/100);
  installed = true;
}

void skip_error_backtraces() {
  c10::SetStackTraceFetcher([] { return std::string("(C++ backtrace not captured)"); });
}

MemoryCounts memory_counts() { return {g_bytes.load(), g_peak.load(), g_allocations.load()}; }

void reset_peak_bytes() { g_peak = g_bytes.load(); }

BuildInfo build_info() {
  return {TORCH_VERSION, _GLIBCXX_USE_CXX11_ABI, at::hasMKLDNN(), at::hasCUDA(), at::show_config()};
}

}  // namespace pdenet
