"""PyTorch's side of the SpeedNet throughput figure in BENCHMARKS.md.

The same network as src/models/speednet.ts (whitening 2x2 conv, three conv groups 64/256/256, shift-only
BatchNorm, GELU, global max-pool, linear x 1/9), with the twist fused into one convolution on the second
convolution of the twisted groups, exactly as pdenet's TwistConv2d computes it. Measured like
`pdenet bench`: SGD steps on one fixed random batch, then inference without gradients; one warm-up each.

    /usr/bin/python3 bench/speednet_torch.py [--batch 512] [--steps 5] [--twist 1,0,0] [--precision bf16]
                                             [--channels-last] [--threads 2]

Prints one JSON object {trainImagesPerSec, inferImagesPerSec, threads}.
"""
import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F


class TwistConv(nn.Module):
    """out = K*u + X.(Kx*u) + Y.(Ky*u); Kx antisymmetrized through the centre, Ky its 90-degree rotation."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c, c, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.kx = nn.Parameter(torch.randn(c, c, 3, 3) * 0.01)

    def forward(self, u):
        kx = (self.kx - self.kx.flip([2, 3])) / 2
        ky = kx.transpose(2, 3).flip(2)
        c = self.weight.shape[0]
        out = F.conv2d(u, torch.cat([self.weight, kx, ky], 0), padding=1)
        n, _, h, w = out.shape
        parts = out.reshape(n, 3, c, h, w)
        x = (torch.arange(w, dtype=out.dtype) / w - 0.5).reshape(1, 1, w)
        y = (torch.arange(h, dtype=out.dtype) / h - 0.5).reshape(1, h, 1)
        return parts[:, 0] + parts[:, 1] * x + parts[:, 2] * y


def norm(c):
    bn = nn.BatchNorm2d(c, momentum=0.4, eps=1e-12)
    bn.weight.requires_grad = False
    return bn


class Group(nn.Module):
    def __init__(self, cin, cout, twist):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.norm1 = norm(cout)
        self.conv2 = TwistConv(cout) if twist else nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.norm2 = norm(cout)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class SpeedNet(nn.Module):
    def __init__(self, twist):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=False)
        self.whiten.weight.requires_grad = False
        widths = [24, 64, 256, 256]
        self.groups = nn.Sequential(*[Group(widths[i], widths[i + 1], twist[i]) for i in range(3)])
        self.fc = nn.Linear(256, 10, bias=False)

    def forward(self, x):
        h = self.groups(F.gelu(self.whiten(x)))
        return self.fc(h.amax((2, 3))) / 9


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batch', type=int, default=512)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--twist', default='0,0,0')
    p.add_argument('--precision', choices=['fp32', 'bf16'], default='bf16')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = SpeedNet([f == '1' for f in a.twist.split(',')])
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))

    def run():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.precision == 'bf16'):
            return model(x)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(run().float(), y)
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    train = a.batch * a.steps / (time.perf_counter() - t)
    model.eval()
    with torch.no_grad():
        run().sum().item()
        t = time.perf_counter()
        for _ in range(a.steps):
            run().sum().item()
        infer = a.batch * a.steps / (time.perf_counter() - t)
    print(json.dumps({'trainImagesPerSec': train, 'inferImagesPerSec': infer, 'threads': torch.get_num_threads()}))


if __name__ == '__main__':
    main()
