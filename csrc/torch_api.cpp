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
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>
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
  // The size is checked before allocating: a wrong shape must not first try to allocate terabytes.
  // (The sizes are not negative: the glue checks.)
  uint64_t needed = c10::elementSize(dtype);
  for (int64_t d : shape) {
    TORCH_CHECK(!__builtin_mul_overflow(needed, static_cast<uint64_t>(d), &needed), "shape ", shape, " of ",
                c10::toString(dtype), " needs more than 2^64 bytes of data, got ", nbytes);
  }
  TORCH_CHECK(needed == nbytes, "shape ", shape, " of ", c10::toString(dtype), " needs ", needed,
              " bytes of data, got ", nbytes);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
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
  at::autocast::set_autocast_cpu_dtype(dtype);
  if (enabled) {
    if (!at::autocast::is_cpu_enabled()) at::autocast::increment_nesting();
    at::autocast::set_cpu_enabled(true);
  } else if (at::autocast::is_cpu_enabled()) {
    at::autocast::set_cpu_enabled(false);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  }
}

bool autocast_enabled() { return at::autocast::is_cpu_enabled(); }

at::ScalarType autocast_dtype() { return at::autocast::get_autocast_cpu_dtype(); }

void set_num_threads(int n) {
  TORCH_CHECK(n >= 1, "the number of threads must be at least 1, got ", n);
  at::set_num_threads(n);
}

int num_threads() { return at::get_num_threads(); }

void manual_seed(uint64_t seed) { at::manual_seed(seed); }

// ---- the counting, caching CPU allocator ---------------------------------------------------------
// Counts the bytes held by tensors, so memory() reports what tensors and autograd graphs really
// occupy, and keeps freed large blocks for reuse.
//
// Why the cache: a training step allocates and frees the same large activations every step. glibc
// serves blocks above 32 MB straight from mmap and returns them on free, so every step the kernel
// hands out fresh zeroed pages again, one 4 KB fault at a time (a SpeedNet epoch took about 5 million
// faults and a tenth of its time in the kernel). Blocks of 1 MiB and more are therefore rounded up
// to one of four sizes per octave (≤ 25% slack), 2 MiB-aligned and marked for transparent huge
// pages, and a freed one waits in a free list for the next request of its size. The free list holds
// at most a quarter of physical memory (4 GiB at most; PDENET_CPU_CACHE_MB overrides, 0 turns the
// cache off); releaseCachedMemory() empties it. Small blocks go to c10::alloc_cpu, 64-byte aligned,
// as libtorch's default allocator does.

namespace {

constexpr size_t kLargeBlock = size_t{1} << 20;
constexpr size_t kHugePage = size_t{2} << 20;

std::atomic<int64_t> g_bytes{0};
std::atomic<int64_t> g_peak{0};
std::atomic<int64_t> g_allocations{0};

/** n rounded up to one of four sizes per power of two. */
size_t size_class(size_t n) {
  const int octave = 63 - __builtin_clzll(n);
  const size_t step = size_t{1} << (octave - 2);
  return (n + step - 1) & ~(step - 1);
}

int64_t default_cache_limit() {
  if (const char* env = std::getenv("PDENET_CPU_CACHE_MB")) {
    char* end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && mb >= 0) return static_cast<int64_t>(mb) << 20;
    LOG(WARNING) << "PDENET_CPU_CACHE_MB must be a whole number of MiB, got '" << env << "'; using the default";
  }
  const int64_t physical = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  return std::min<int64_t>(physical / 4, int64_t{4} << 30);
}

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<void*, size_t> live;          // large blocks held by tensors → their size class
  std::unordered_map<size_t, std::vector<void*>> free;  // size class → blocks waiting for reuse
  int64_t cached_bytes = 0;
  int64_t limit = default_cache_limit();

  void* take(size_t cls) {
    std::lock_guard<std::mutex> lock(mutex);
    void* data = nullptr;
    auto it = free.find(cls);
    if (it != free.end() && !it->second.empty()) {
      data = it->second.back();
      it->second.pop_back();
      cached_bytes -= static_cast<int64_t>(cls);
    } else {
      data = fresh(cls);
    }
    live.emplace(data, cls);
    return data;
  }

  static void* fresh(size_t cls) {
    void* data = nullptr;
    if (posix_memalign(&data, kHugePage, cls) != 0 || data == nullptr) {
      TORCH_CHECK(false, "out of memory: could not allocate ", cls, " bytes");
    }
    madvise(data, cls, MADV_HUGEPAGE);
    return data;
  }

  /** Takes back a block; returns its size class, or 0 if it is not a large block of this cache. */
  size_t give_back(void* data) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = live.find(data);
    if (it == live.end()) return 0;
    const size_t cls = it->second;
    live.erase(it);
    if (cached_bytes + static_cast<int64_t>(cls) <= limit) {
      free[cls].push_back(data);
      cached_bytes += static_cast<int64_t>(cls);
    } else {
      std::free(data);
    }
    return cls;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& [cls, blocks] : free) {
      for (void* data : blocks) std::free(data);
    }
    free.clear();
    cached_bytes = 0;
  }
};

BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive static destructors
  return *cache;
}

void count_allocation(size_t bytes) {
  int64_t now = g_bytes += static_cast<int64_t>(bytes);
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  ++g_allocations;
}

void counting_free(void* data) {
  if (data == nullptr) return;
  const size_t usable = malloc_usable_size(data);
  // Only a block of at least kLargeBlock can be the cache's: small blocks skip its lock.
  if (usable >= kLargeBlock) {
    if (size_t cls = block_cache().give_back(data)) {
      g_bytes -= static_cast<int64_t>(cls);
      return;
    }
  }
  g_bytes -= static_cast<int64_t>(usable);
  c10::free_cpu(data);
}

struct CountingCPUAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t nbytes) const override {
    void* data = nullptr;
    if (nbytes >= kLargeBlock && block_cache().limit > 0) {
      const size_t cls = size_class(nbytes);
      data = block_cache().take(cls);
      count_allocation(cls);
    } else {
      data = c10::alloc_cpu(nbytes);
      if (data != nullptr) count_allocation(malloc_usable_size(data));
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

MemoryCounts memory_counts() {
  BlockCache& cache = block_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  return {g_bytes.load(), g_peak.load(), g_allocations.load(), cache.cached_bytes};
}

void release_cached_memory() { block_cache().release(); }

void reset_peak_bytes() { g_peak = g_bytes.load(); }

BuildInfo build_info() {
  return {TORCH_VERSION, _GLIBCXX_USE_CXX11_ABI, at::hasMKLDNN(), at::hasCUDA(), at::show_config()};
}

}  // namespace pdenet
