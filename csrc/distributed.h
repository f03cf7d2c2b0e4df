// The c10d floor of pdenet: process groups, collectives and the DDP Reducer, all libtorch's own
// (TCPStore for rendezvous, ProcessGroupGloo for CPU tensors, ProcessGroupNCCL in a CUDA build).
// Everything here speaks libtorch only, never N-API; napi_distributed.cc converts the values.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace pdenet::dist {

/** Where and how to join a process group (the env:// convention's values, read in TypeScript). */
struct GroupOptions {
  std::string master_addr;       // host of the TCPStore, served by rank 0
  int master_port = 29500;
  int rank = 0;
  int world_size = 1;
  std::chrono::milliseconds timeout{60000};  // rendezvous and every collective
  std::string backend = "gloo";  // "gloo" (CPU tensors) or "nccl" (CUDA builds)
  std::string interface;         // gloo: bind to this network interface (GLOO_SOCKET_IFNAME), or
  std::string hostname;          // gloo: to the address of this host name; neither: gloo's default
  int threads = 2;               // gloo's worker threads
};

/** A joined group: the store it met through and the process group itself. */
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{60000};
};

/** Whether this build has a backend ("gloo": gloo's headers were found; "nccl": a CUDA libtorch with NCCL). */
bool has_backend(const std::string& backend);

/**
 * Joins the group: rank 0 serves the TCPStore at master_addr:master_port and waits for the others,
 * every rank then connects to every other through the backend. Blocks until the world has assembled;
 * throws c10::Error naming what failed (address in use, nobody listening, peers missing) after `timeout`.
 */
std::shared_ptr<Group> init_group(const GroupOptions& options);

/** A collective in flight, holding the tensors it reads and writes until it is waited for. */
struct Pending {
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  std::vector<at::Tensor> tensors;
  std::vector<std::vector<at::Tensor>> outputs;
  std::string what;  // "allReduce", … for error messages
};

c10d::ReduceOp reduce_op(const std::string& name);  // "sum", "product", "min", "max", "avg"

std::shared_ptr<Pending> all_reduce(Group& g, std::vector<at::Tensor> tensors, const std::string& op);
std::shared_ptr<Pending> broadcast(Group& g, std::vector<at::Tensor> tensors, int root);
/** outputs[i] receives rank i's `input`. */
std::shared_ptr<Pending> all_gather(Group& g, const at::Tensor& input, std::vector<at::Tensor> outputs);
std::shared_ptr<Pending> barrier(Group& g);

/** Waits for `p` at most `timeout`; throws c10::Error when it failed, or naming the timeout. */
void wait(Pending& p, std::chrono::milliseconds timeout);

/**
 * In the backward pass, replaces the gradient reaching `t` (a non-leaf tensor) by its sum over all
 * ranks — the collective a synchronized batch norm needs for its statistics' gradients.
 */
void sum_gradient_across_ranks(const std::shared_ptr<Group>& g, const at::Tensor& t);

/**
 * c10d's DDP Reducer over `params` (leaves requiring grad): their gradients are averaged over the
 * ranks in buckets of about `bucket_bytes` (the first one `first_bucket_bytes`), each all-reduced as
 * soon as the backward pass has filled it. Buckets are laid out as torch.nn.parallel.DistributedDataParallel
 * lays them out (in reverse order of the parameters).
 */
std::shared_ptr<c10d::Reducer> make_reducer(const std::shared_ptr<Group>& g, const std::vector<at::Tensor>& params,
                                            const std::vector<std::string>& names, int64_t bucket_bytes,
                                            int64_t first_bucket_bytes, bool find_unused);

/** Arms the reducer for the next backward pass (DDP's forward does this); `outputs` when finding unused parameters. */
void prepare_for_backward(c10d::Reducer& r, const std::vector<at::Tensor>& outputs);

}  // namespace pdenet::dist
