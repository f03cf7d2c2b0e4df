#!/usr/bin/python3
"""PyTorch's side of bench/ddp-train.ts: the same loop with torch.nn.parallel.DistributedDataParallel (gloo).

    /usr/bin/python3 bench/ddp_torch.py --model resnet20 --batch 128 --steps 10 --threads 2          # 1 process
    OMP_NUM_THREADS=1 /usr/bin/python3 -m torch.distributed.run --standalone --nproc_per_node 2 \\
        bench/ddp_torch.py --model resnet20 --batch 128 --steps 10 --threads 1                       # 2 processes

Debian's torch.distributed.run (1.13) fails on Python 3.11 (`'NoneType' object has no attribute 'get'`, its Std
flags enum); bench/ddp-vs-torch.sh starts the workers with `pdenet launch --exec`, which sets the same env://
variables (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) that init_process_group('gloo') reads.

Models: resnet20 (../shared/reference/train_ref.py's ResNet20, no twist) and speednet (bench/speednet_torch.py,
no twist), fp32. Rank 0 prints one JSON line like ddp-train.ts's.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [here, os.path.join(here, '../../shared/reference'), os.path.join(here, '../shared/reference')]


def make(name):
    if name == 'resnet20':
        from train_ref import ResNet20
        return ResNet20(False)
    from speednet_torch import SpeedNet
    return SpeedNet([False, False, False])


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='resnet20')
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world > 1:
        dist.init_process_group('gloo')
    rank = dist.get_rank() if world > 1 else 0
    torch.manual_seed(0)
    model = make(a.model)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
    batch = a.batch // world
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    if world > 1:
        dist.barrier()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    if world > 1:
        dist.barrier()
    ms = (time.perf_counter() - t) * 1000 / a.steps
    numel = sum(q.numel() for q in params)
    all_reduce_ms = None
    if world > 1:
        flat = torch.zeros(numel)
        times = []
        for _ in range(7):
            t = time.perf_counter()
            dist.all_reduce(flat)
            times.append((time.perf_counter() - t) * 1000)
        all_reduce_ms = sorted(times)[3]
    if rank == 0:
        print(json.dumps({'side': 'torch', 'model': a.model, 'procs': world, 'threads': torch.get_num_threads(),
                          'batch': a.batch, 'imagesPerSec': a.batch * 1000 / ms, 'stepMs': ms, 'params': numel,
                          'allReduceMs': all_reduce_ms}))


if __name__ == '__main__':
    main()
