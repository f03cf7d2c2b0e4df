// pdenet::gelu — GELU that is fast and right on channels-last tensors.
//
// libtorch 1.13's GELU kernels take a slow path when their operands are channels-last (4–8× slower than on the
// same bytes seen as contiguous), and its backward is wrong when the gradient and the input have different
// layouts (NCHW input with a channels-last gradient, or the reverse as NHWC views). This operator runs both
// directions on contiguous operands of one layout: a channels-last tensor as its NHWC view, the gradient copied
// into the input's layout first. BENCHMARKS.md ("pdenet's operators beside libtorch's") has the measurements.
// No N-API here.
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace pdenet {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/** A 4-D channels-last tensor that is not also contiguous (as C = 1 or H = W = 1 tensors are). */
bool channels_last_only(const at::Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast);
}

at::Tensor nhwc(const at::Tensor& t) { return t.permute({0, 2, 3, 1}); }
at::Tensor nchw(const at::Tensor& t) { return t.permute({0, 3, 1, 2}); }

struct GeluFunction : torch::autograd::Function<GeluFunction> {
  // The input itself is saved, not a contiguous copy made here: forward runs without grad mode, so a copy would
  // cut the second derivative off from the input. backward makes the copy, where create_graph records it.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, std::string approximate) {
    ctx->save_for_backward({input});
    ctx->saved_data["approximate"] = approximate;
    if (channels_last_only(input)) return nchw(at::gelu(nhwc(input), approximate));
    return at::gelu(input.contiguous(), approximate);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor input = ctx->get_saved_variables()[0];
    const std::string approximate = ctx->saved_data["approximate"].toStringRef();
    if (channels_last_only(input)) {
      const at::Tensor grad = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
      return {nchw(at::gelu_backward(nhwc(grad), nhwc(input), approximate)), at::Tensor()};
    }
    return {at::gelu_backward(grads[0].contiguous(), input.contiguous(), approximate), at::Tensor()};
  }
};

at::Tensor gelu(const at::Tensor& input, c10::string_view approximate) {
  return GeluFunction::apply(input, std::string(approximate));
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(pdenet, m) {
  m.def("gelu(Tensor self, *, str approximate='none') -> Tensor", &gelu);
}

}  // namespace pdenet
