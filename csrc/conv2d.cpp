// pdenet::conv2d — a 2-D convolution whose backward is built from forward convolutions.
//
// libtorch's CPU convolution backward (oneDNN's backward-data and backward-weights kernels) runs 1.5–4×
// slower than its forward kernels on the convolutions of a CIFAR network, while the adjoint of a stride-1
// convolution is itself a forward convolution:
//
//   ∂L/∂x = conv2d(∂L/∂y, flip(W)ᵀ, padding k−1−p)        (channels swapped, kernel turned by 180°)
//   ∂L/∂W = conv2d(xᵀ, (∂L/∂y)ᵀ, padding p)ᵀ               (batch and channels swapped; for small images)
//
// This file registers the operator `pdenet::conv2d` with the dispatcher — so the generic `call` reaches it by
// name like any `aten::` operator — and gives it an autograd function with that backward for stride 1,
// dilation 1, one group; every other case is aten::conv2d itself. BENCHMARKS.md ("pdenet's operators beside
// libtorch's") has the measurements. No N-API here.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace pdenet {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Below this many output pixels per image the weight gradient goes through the swapped forward convolution
// (measured faster at 3×3 outputs, slower from 7×7 on).
constexpr int64_t kSwappedWeightGradMaxPixels = 16;

at::Tensor flipped_transposed(const at::Tensor& weight, at::MemoryFormat format) {
  return weight.flip({2, 3}).transpose(0, 1).contiguous(format);
}

struct Conv2dFunction : torch::autograd::Function<Conv2dFunction> {
  // The bias is added outside (libtorch 1.13's Function::apply does not take undefined tensors).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            std::vector<int64_t> padding) {
    ctx->save_for_backward({input, weight});
    ctx->saved_data["padding"] = padding;
    return at::conv2d(input, weight, {}, 1, padding);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& input = saved[0];
    const at::Tensor& weight = saved[1];
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const at::Tensor grad = grads[0].to(input.scalar_type());
    const auto format = input.suggest_memory_format();
    at::Tensor grad_input, grad_weight;
    if (ctx->needs_input_grad(0)) {
      const std::vector<int64_t> adjoint_padding{weight.size(2) - 1 - padding[0], weight.size(3) - 1 - padding[1]};
      grad_input = at::conv2d(grad, flipped_transposed(weight, format), {}, 1, adjoint_padding);
    }
    if (ctx->needs_input_grad(1)) {
      if (grad.size(2) * grad.size(3) <= kSwappedWeightGradMaxPixels) {
        grad_weight = at::conv2d(input.transpose(0, 1), grad.transpose(0, 1), {}, 1, padding).transpose(0, 1)
                          .contiguous(weight.suggest_memory_format());
      } else {
        grad_weight = std::get<1>(at::convolution_backward(grad, input, weight, c10::nullopt, {1, 1}, padding, {1, 1},
                                                           false, {0, 0}, 1, {false, true, false}));
      }
    }
    return {grad_input, grad_weight, at::Tensor()};
  }
};

bool has_fast_backward(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                       at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  auto ones = [](at::IntArrayRef v) { return std::all_of(v.begin(), v.end(), [](int64_t s) { return s == 1; }); };
  if (input.dim() != 4 || weight.dim() != 4 || groups != 1 || !ones(stride) || !ones(dilation)) return false;
  if (padding.size() != 2 || !input.device().is_cpu() || !at::isFloatingType(input.scalar_type())) return false;
  // A bias aten::conv2d would refuse (not one value per output channel, another dtype or device) goes to it, for
  // its error: added below, it would broadcast or promote the output.
  if (bias.has_value() && bias->defined() &&
      (bias->dim() != 1 || bias->size(0) != weight.size(0) || bias->scalar_type() != input.scalar_type() ||
       bias->device() != input.device())) {
    return false;
  }
  return padding[0] >= 0 && padding[0] < weight.size(2) && padding[1] >= 0 && padding[1] < weight.size(3);
}

at::Tensor conv2d(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                  at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  if (!has_fast_backward(input, weight, bias, stride, padding, dilation, groups)) {
    return at::conv2d(input, weight, bias, stride, padding, dilation, groups);
  }
  at::Tensor x = input, w = weight, b = bias.value_or(at::Tensor());
  // Autocast passes this operator through; cast as it casts aten::conv2d, then keep it off inside.
  if (at::autocast::is_cpu_enabled()) {
    const auto dtype = at::autocast::get_autocast_cpu_dtype();
    x = at::autocast::cached_cast(dtype, x, c10::DeviceType::CPU);
    w = at::autocast::cached_cast(dtype, w, c10::DeviceType::CPU);
    if (b.defined()) b = at::autocast::cached_cast(dtype, b, c10::DeviceType::CPU);
  }
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCPU);
  at::Tensor out = Conv2dFunction::apply(x, w, padding.vec());
  return b.defined() ? out.add(b.reshape({1, -1, 1, 1})) : out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(pdenet, m) {
  m.def("conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, "
        "int[2] dilation=1, int groups=1) -> Tensor",
        &conv2d);
}

}  // namespace pdenet
