#!/usr/bin/python3
"""The PyTorch side of pdenet's benchmarks (bench/run.ts). Run with /usr/bin/python3 (Debian's python3-torch,
the same libtorch 1.13 pdenet links against).

Each measurement is one "sample" and prints one JSON object. bench/run.ts keeps this script running in
`serve` mode and asks for one sample at a time, alternating with pdenet's own samples, so that noise on the
machine hits both sides alike. The same measurements can be taken by hand:

    /usr/bin/python3 bench/torch_bench.py conv --threads 2 --iters 5 [--input-grad]
    /usr/bin/python3 bench/torch_bench.py overhead --threads 2 --iters 20000
    /usr/bin/python3 bench/torch_bench.py info
    /usr/bin/python3 bench/torch_bench.py serve      # JSON requests on stdin, one JSON reply per line

conv: conv2d 64->64 3x3, padding 1, batch 32, 32x32, float32; the weight requires grad, the input only with
--input-grad; loss = (conv2d(x, w) * R).sum() with a fixed random R; loss.backward(). The sample is the mean time
of `iters` steps (after `warmup` untimed steps).

overhead: microseconds per call of tiny ops, each timed over `iters` calls after a warm-up; the result of
each call is dropped at once (Python frees it by reference counting, as pdenet's benchmark disposes it).
"""
import argparse
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F

N, C, H, W, K = 32, 64, 32, 32, 3


class Conv:
    def __init__(self, input_grad=False, seed=0):
        torch.manual_seed(seed)
        self.x = torch.randn(N, C, H, W, requires_grad=input_grad)
        self.w = torch.randn(C, C, K, K, requires_grad=True)
        self.r = torch.randn(N, C, H, W)

    def step(self):
        # Gradients set to None before each step (optimizer.zero_grad(set_to_none=True)), as in pdenet's side.
        self.w.grad = None
        self.x.grad = None
        loss = (F.conv2d(self.x, self.w, padding=1) * self.r).sum()
        loss.backward()

    def sample(self, iters, warmup):
        for _ in range(warmup):
            self.step()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        for _ in range(iters):
            self.step()
        dt = (time.perf_counter() - t0) / iters
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        # Minor page faults (the whole process): fresh pages the allocator got from the kernel during the steps.
        return {"msPerStep": dt * 1e3, "minorFaultsPerStep": faults / iters, "iters": iters}


class Overhead:
    """The same tiny ops as bench/suite/overhead.ts and bench/native_baseline.cpp, on tensors of the same sizes."""

    def __init__(self):
        self.one = torch.randn(1)
        self.a = torch.randn(4)
        self.b = torch.randn(4)
        self.inplace = torch.zeros(4)

    def cases(self):
        one, a, b, inplace = self.one, self.a, self.b, self.inplace
        # Each returns a function timing `n` calls; the loop is part of the cost, as in any Python program.
        def add_scalar(n):
            t0 = time.perf_counter()
            for _ in range(n):
                y = one.add(1)
                del y
            return time.perf_counter() - t0

        def mul(n):
            t0 = time.perf_counter()
            for _ in range(n):
                y = a.mul(b)
                del y
            return time.perf_counter() - t0

        def relu(n):
            t0 = time.perf_counter()
            for _ in range(n):
                y = F.relu(a)
                del y
            return time.perf_counter() - t0

        def add_inplace(n):
            t0 = time.perf_counter()
            for _ in range(n):
                inplace.add_(1)
            return time.perf_counter() - t0

        def shape(n):
            t0 = time.perf_counter()
            for _ in range(n):
                s = a.shape
                del s
            return time.perf_counter() - t0

        return {"add": add_scalar, "mul": mul, "relu": relu, "add_": add_inplace, "shape": shape}

    def sample(self, iters, warmup, ops=None):
        out = {}
        for name, fn in self.cases().items():
            if ops is not None and name not in ops:
                continue
            fn(warmup)
            out[name] = fn(iters) / iters * 1e6
        self.inplace.zero_()
        return {"usPerCall": out, "iters": iters}


def info():
    return {
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }


_conv = {}
_overhead = None


def handle(req):
    global _conv, _overhead
    if "threads" in req and req["threads"]:
        torch.set_num_threads(int(req["threads"]))
    cmd = req["cmd"]
    if cmd == "info":
        return info()
    if cmd == "conv":
        input_grad = bool(req.get("inputGrad", False))
        if input_grad not in _conv:
            _conv[input_grad] = Conv(input_grad)
        return _conv[input_grad].sample(int(req.get("iters", 5)), int(req.get("warmup", 0)))
    if cmd == "overhead":
        if _overhead is None:
            _overhead = Overhead()
        return _overhead.sample(int(req.get("iters", 20000)), int(req.get("warmup", 2000)), req.get("ops"))
    raise ValueError(f"unknown command {cmd!r}")


def serve():
    print(json.dumps({"ready": True, **info()}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as e:  # reported to bench/run.ts, which fails loudly
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["conv", "overhead", "info", "serve"])
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: leave as is)")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--input-grad", action="store_true", help="conv: the input requires grad too")
    a = p.parse_args()
    if a.cmd == "serve":
        if a.threads:
            torch.set_num_threads(a.threads)
        serve()
        return
    req = {"cmd": a.cmd, "threads": a.threads, "inputGrad": a.input_grad}
    if a.iters is not None:
        req["iters"] = a.iters
    if a.warmup is not None:
        req["warmup"] = a.warmup
    elif a.cmd == "conv":
        req["warmup"] = 2
    print(json.dumps({**handle(req), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
