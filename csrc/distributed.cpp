// The c10d floor: see distributed.h.
#include "distributed.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <unordered_map>

namespace pdenet::dist {

bool has_backend(const std::string& backend) {
#ifdef USE_C10D_GLOO
  if (backend == "gloo") return true;
#endif
#ifdef USE_C10D_NCCL
  if (backend == "nccl") return true;
#endif
  return false;
}

static c10::intrusive_ptr<c10d::ProcessGroup> make_process_group(const GroupOptions& o,
                                                                 const c10::intrusive_ptr<c10d::Store>& store) {
#ifdef USE_C10D_GLOO
  if (o.backend == "gloo") {
    using c10d::ProcessGroupGloo;
    auto options = ProcessGroupGloo::Options::create(o.timeout);
    if (!o.interface.empty()) options->devices.push_back(ProcessGroupGloo::createDeviceForInterface(o.interface));
    else if (!o.hostname.empty()) options->devices.push_back(ProcessGroupGloo::createDeviceForHostname(o.hostname));
    else options->devices.push_back(ProcessGroupGloo::createDefaultDevice());
    options->threads = o.threads;
    return c10::make_intrusive<ProcessGroupGloo>(store, o.rank, o.world_size, options);
  }
#endif
#ifdef USE_C10D_NCCL
  if (o.backend == "nccl") {
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = o.timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, o.rank, o.world_size, options);
  }
#endif
  TORCH_CHECK(false, "this build of pdenet has no ", o.backend, " backend (",
              o.backend == "nccl" ? "NCCL needs a CUDA libtorch built with it"
                                  : "gloo's headers were missing at build time: install libgloo-dev and rebuild",
              ")");
}

std::shared_ptr<Group> init_group(const GroupOptions& o) {
  TORCH_CHECK(o.world_size >= 1 && o.rank >= 0 && o.rank < o.world_size, "rank ", o.rank,
              " is not in a world of size ", o.world_size);
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(o.master_port);
  store_options.isServer = o.rank == 0;
  store_options.numWorkers = static_cast<std::size_t>(o.world_size);
  store_options.waitWorkers = true;
  store_options.timeout = o.timeout;
  auto group = std::make_shared<Group>();
  group->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
  group->pg = make_process_group(o, group->store);
  group->rank = o.rank;
  group->size = o.world_size;
  group->timeout = o.timeout;
  return group;
}

c10d::ReduceOp reduce_op(const std::string& name) {
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "product") return c10d::ReduceOp::PRODUCT;
  if (name == "min") return c10d::ReduceOp::MIN;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "avg") return c10d::ReduceOp::AVG;
  TORCH_CHECK(false, "the reduction must be sum, product, min, max or avg, got \"", name, "\"");
}

static std::shared_ptr<Pending> pending(c10::intrusive_ptr<c10d::Work> work, std::vector<at::Tensor> tensors,
                                        const char* what) {
  auto p = std::make_shared<Pending>();
  p->works.push_back(std::move(work));
  p->tensors = std::move(tensors);
  p->what = what;
  return p;
}

std::shared_ptr<Pending> all_reduce(Group& g, std::vector<at::Tensor> tensors, const std::string& op) {
  c10d::AllreduceOptions options;
  options.reduceOp = reduce_op(op);
  options.timeout = g.timeout;
  auto work = g.pg->allreduce(tensors, options);
  return pending(std::move(work), std::move(tensors), "allReduce");
}

std::shared_ptr<Pending> broadcast(Group& g, std::vector<at::Tensor> tensors, int root) {
  TORCH_CHECK(root >= 0 && root < g.size, "the root rank ", root, " is not in a world of size ", g.size);
  c10d::BroadcastOptions options;
  options.rootRank = root;
  options.timeout = g.timeout;
  // gloo broadcasts one tensor per call
  auto p = std::make_shared<Pending>();
  p->what = "broadcast";
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    p->works.push_back(g.pg->broadcast(one, options));
  }
  p->tensors = std::move(tensors);
  return p;
}

std::shared_ptr<Pending> all_gather(Group& g, const at::Tensor& input, std::vector<at::Tensor> outputs) {
  TORCH_CHECK(static_cast<int>(outputs.size()) == g.size, "allGather needs one output per rank (", g.size,
              "), got ", outputs.size());
  std::vector<std::vector<at::Tensor>> out{outputs};
  std::vector<at::Tensor> in{input};
  c10d::AllgatherOptions options;
  options.timeout = g.timeout;
  auto work = g.pg->allgather(out, in, options);
  auto p = pending(std::move(work), std::move(in), "allGather");
  p->outputs = std::move(out);
  return p;
}

std::shared_ptr<Pending> barrier(Group& g) {
  c10d::BarrierOptions options;
  options.timeout = g.timeout;
  return pending(g.pg->barrier(options), {}, "barrier");
}

void wait(Pending& p, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  try {
    for (auto& work : p.works) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      work->wait(std::max(left, std::chrono::milliseconds(1)));
    }
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    if (message.find("timed out") != std::string::npos) {
      TORCH_CHECK(false, p.what, " did not complete within ", timeout.count(),
                  " ms: a rank is missing, hung or slower than the timeout");
    }
    throw;
  }
}

void sum_gradient_across_ranks(const std::shared_ptr<Group>& g, const at::Tensor& t) {
  t.register_hook([g](const at::Tensor& grad) {
    std::vector<at::Tensor> sum{grad.clone(at::MemoryFormat::Contiguous)};
    auto p = all_reduce(*g, sum, "sum");
    wait(*p, g->timeout);
    return sum[0];
  });
}

std::shared_ptr<c10d::Reducer> make_reducer(const std::shared_ptr<Group>& g, const std::vector<at::Tensor>& params,
                                            const std::vector<std::string>& names, int64_t bucket_bytes,
                                            int64_t first_bucket_bytes, bool find_unused) {
  TORCH_CHECK(!params.empty(), "there are no parameters that require gradients");
  const std::vector<bool> sparse(params.size(), false);
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      params, {static_cast<size_t>(first_bucket_bytes), static_cast<size_t>(bucket_bytes)}, sparse);
  // the gradients of the last parameters are ready first
  std::reverse(buckets.begin(), buckets.end());
  std::reverse(limits.begin(), limits.end());
  std::unordered_map<size_t, std::string> name_of;
  for (size_t i = 0; i < names.size() && i < params.size(); ++i) name_of[i] = names[i];
  return std::make_shared<c10d::Reducer>(params, std::move(buckets), std::move(limits), g->pg, sparse, bucket_bytes,
                                         find_unused, /*gradient_as_bucket_view=*/false, std::move(name_of),
                                         first_bucket_bytes);
}

void prepare_for_backward(c10d::Reducer& r, const std::vector<at::Tensor>& outputs) {
  r.prepare_for_forward();
  r.prepare_for_backward(outputs);
}

}  // namespace pdenet::dist
