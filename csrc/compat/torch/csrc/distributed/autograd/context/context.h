// Stand-in for a libtorch header that Debian's libtorch-dev does not ship (distributed autograd).
// c10d/reducer.hpp includes it only for two type names; pdenet never uses distributed autograd.
// binding.gyp puts this folder after the system's (-idirafter), so a libtorch that ships the real
// header uses that one.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>

namespace torch::distributed::autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace torch::distributed::autograd
