// The libtorch C++ floor of pdenet's overhead benchmark (bench/suite/overhead.ts): the same tiny ops on tensors of the
// same sizes as the pdenet and PyTorch columns, called from C++ with no binding in between.
//
// bench/run.ts (through bench/harness/counterparts.ts) compiles this on the fly against the libtorch pdenet was
// built with, into build/bench/native_baseline (never committed), keeps it running and asks for one sample at a time:
//
//   echo "overhead 100000 10000 2" | build/bench/native_baseline       # iters warmup threads [op]
//   echo "overhead 100000 10000 2 mul" | build/bench/native_baseline
//
// Two columns per op:
//   direct — the C++ API (x.add(1), at::relu(x), ...): the unboxed fast path, what a C++ program pays;
//   boxed  — the same operator found by schema name and run with OperatorHandle::callBoxed on an IValue
//            stack, which is exactly how pdenet's addon calls every operator (csrc/torch_api.cpp call_op).
// Their difference is the cost of pdenet's generic, schema-driven design inside libtorch; pdenet minus
// boxed is the N-API and JavaScript part.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

volatile int64_t g_sink = 0;  // keeps the compiler from removing calls whose result is unused

double time_us(const std::function<void(int64_t)>& body, int64_t iters, int64_t warmup) {
  body(warmup);
  auto t0 = Clock::now();
  body(iters);
  auto t1 = Clock::now();
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(iters);
}

c10::OperatorHandle op(const char* name, const char* overload) {
  auto h = c10::Dispatcher::singleton().findSchema({name, overload});
  TORCH_CHECK(h.has_value(), "no operator ", name, ".", overload);
  return *h;
}

struct Case {
  std::string name;
  std::function<void(int64_t)> direct;
  std::function<void(int64_t)> boxed;  // empty when there is no operator call to box (shape)
};

std::string overhead(int64_t iters, int64_t warmup, const std::string& only) {
  at::manual_seed(0);
  at::Tensor one = at::randn({1});
  at::Tensor a = at::randn({4});
  at::Tensor b = at::randn({4});
  at::Tensor inplace = at::zeros({4});

  static const c10::OperatorHandle add_scalar = op("aten::add", "Scalar");
  static const c10::OperatorHandle mul_tensor = op("aten::mul", "Tensor");
  static const c10::OperatorHandle relu = op("aten::relu", "");
  static const c10::OperatorHandle add_scalar_ = op("aten::add_", "Scalar");

  // A boxed call as pdenet's addon makes it: a fresh stack, the arguments pushed as IValues (integer
  // scalars as JavaScript integers become), callBoxed, the result taken off the stack and released.
  auto boxed = [](const c10::OperatorHandle& h, std::vector<c10::IValue> (*args)(const at::Tensor&, const at::Tensor&),
                  const at::Tensor& x, const at::Tensor& y) {
    return [&h, args, x, y](int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        torch::jit::Stack stack;
        stack.reserve(h.schema().arguments().size());
        for (auto& v : args(x, y)) stack.push_back(std::move(v));
        h.callBoxed(&stack);
        g_sink = g_sink + static_cast<int64_t>(stack.size());
      }
    };
  };

  std::vector<Case> cases;
  cases.push_back({"add",
                   [&](int64_t n) {
                     for (int64_t i = 0; i < n; ++i) {
                       at::Tensor y = one.add(1);
                       g_sink = g_sink + y.dim();
                     }
                   },
                   boxed(add_scalar,
                         [](const at::Tensor& x, const at::Tensor&) {
                           return std::vector<c10::IValue>{x, c10::Scalar(int64_t{1}), c10::Scalar(int64_t{1})};
                         },
                         one, one)});
  cases.push_back({"mul",
                   [&](int64_t n) {
                     for (int64_t i = 0; i < n; ++i) {
                       at::Tensor y = a.mul(b);
                       g_sink = g_sink + y.dim();
                     }
                   },
                   boxed(mul_tensor,
                         [](const at::Tensor& x, const at::Tensor& y) { return std::vector<c10::IValue>{x, y}; }, a,
                         b)});
  cases.push_back({"relu",
                   [&](int64_t n) {
                     for (int64_t i = 0; i < n; ++i) {
                       at::Tensor y = at::relu(a);
                       g_sink = g_sink + y.dim();
                     }
                   },
                   boxed(relu, [](const at::Tensor& x, const at::Tensor&) { return std::vector<c10::IValue>{x}; }, a,
                         a)});
  cases.push_back({"add_",
                   [&](int64_t n) {
                     for (int64_t i = 0; i < n; ++i) inplace.add_(1);
                   },
                   boxed(add_scalar_,
                         [](const at::Tensor& x, const at::Tensor&) {
                           return std::vector<c10::IValue>{x, c10::Scalar(int64_t{1}), c10::Scalar(int64_t{1})};
                         },
                         inplace, inplace)});
  cases.push_back({"shape",
                   [&](int64_t n) {
                     for (int64_t i = 0; i < n; ++i) {
                       // Copy the sizes out, as every binding must (pdenet builds a JS array, Python a torch.Size).
                       std::vector<int64_t> s = a.sizes().vec();
                       g_sink = g_sink + s[0];
                     }
                   },
                   nullptr});

  std::ostringstream direct, boxed_out;
  direct.precision(6);
  boxed_out.precision(6);
  bool first = true, first_boxed = true;
  for (const Case& c : cases) {
    if (!only.empty() && c.name != only) continue;
    direct << (first ? "" : ",") << '"' << c.name << "\":" << time_us(c.direct, iters, warmup);
    first = false;
    if (c.boxed) {
      boxed_out << (first_boxed ? "" : ",") << '"' << c.name << "\":" << time_us(c.boxed, iters, warmup);
      first_boxed = false;
    }
  }
  inplace.zero_();
  std::ostringstream out;
  out << "{\"usPerCall\":{" << direct.str() << "},\"usPerCallBoxed\":{" << boxed_out.str()
      << "},\"iters\":" << iters << ",\"threads\":" << at::get_num_threads() << "}";
  return out.str();
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::cout << "{\"ready\":true,\"libtorch\":\"" << TORCH_VERSION << "\"}" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd.empty()) continue;
    try {
      if (cmd == "overhead") {
        int64_t iters = 100000, warmup = 10000, threads = 0;
        std::string only;  // one op, or all when absent
        in >> iters >> warmup >> threads >> only;
        if (threads > 0) at::set_num_threads(static_cast<int>(threads));
        std::cout << overhead(iters, warmup, only) << std::endl;
      } else {
        std::cout << "{\"error\":\"unknown command " << cmd << "\"}" << std::endl;
      }
    } catch (const std::exception& e) {
      std::string msg = e.what();
      for (char& ch : msg) {
        if (ch == '"' || ch == '\\' || ch == '\n') ch = ' ';
      }
      std::cout << "{\"error\":\"" << msg.substr(0, 500) << "\"}" << std::endl;
    }
  }
  return 0;
}
