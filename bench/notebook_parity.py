"""The notebook's side of the training-parity check (BENCHMARKS.md, "The notebook's training, step for step").

Builds the seed notebook's ResNet18 layout (BasicBlock [2, 2, 2, 2]) at a small width from the notebook's own code
(read from the mirror of liuyao12/pytorch-cifar at the commit named in test/fixtures/make_notebook_fixture.py),
twists layer1 as the notebook does before its first epoch, and trains it for a few steps with the notebook's
optimizer — SGD, lr 0.1, momentum 0.9, weight decay 5e-4, cross-entropy, `opt.zero_grad(); loss.backward();
opt.step()` — on fixed CIFAR-10 batches (no augmentation; the notebook's normalization). It writes the initial
state_dict, the batches and the per-step losses for bench/notebook-parity.ts, which trains pdenet's
notebook-resnet18 from the same weights on the same batches and compares.

    /usr/bin/python3 bench/notebook_parity.py /tmp/nbparity [--steps 50] [--batch 32] [--width 16] [--threads 1]
    /usr/bin/python3 bench/notebook_parity.py /tmp/nbparity --float64   # the same in fp64 (the rounding's share)
    node dist/bench/notebook-parity.js /tmp/nbparity
"""
import argparse
import io
import json
import os
import random
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
from make_notebook_fixture import notebook_namespace  # noqa: E402

MEAN = (0.4914, 0.4822, 0.4465)  # the notebook's Normalize
STD = (0.2023, 0.1994, 0.2010)
CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']


def cifar_batches(tar_path, steps, batch, seed):
    """steps × batch images drawn without replacement (fixed seed) from the CIFAR-10 JPEG training tar."""
    with tarfile.open(tar_path) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith('.jpg')]
        random.Random(seed).shuffle(members)
        chosen = members[:steps * batch]
        xs, ys = [], []
        for m in chosen:
            img = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert('RGB'), dtype=np.float32) / 255
            xs.append((img - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32))
            ys.append(CLASSES.index(m.name.split('/')[-2]))
    x = torch.from_numpy(np.stack(xs).transpose(0, 3, 1, 2).copy()).reshape(steps, batch, 3, 32, 32)
    y = torch.tensor(ys, dtype=torch.int64).reshape(steps, batch)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--width', type=int, default=16)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--tar', default='/work/shared/datasets/cifar10-jpeg/train.tar.gz')
    ap.add_argument('--float64', action='store_true',
                    help='train in fp64 from the same weights and batches (written by an fp32 run before) and '
                         'write torch_losses_float64.json: how far fp32 rounding alone moves the losses')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    nb = notebook_namespace(width=args.width)
    torch.manual_seed(args.seed)
    net = nb['ResNet'](nb['BasicBlock'], [2, 2, 2, 2])
    if args.float64:
        data = torch.load(os.path.join(args.out, 'batches.pt'))
        x, y = data['x'].double(), data['y']
        net.load_state_dict(torch.load(os.path.join(args.out, 'init.pt')))
        net.double()
    else:
        x, y = cifar_batches(args.tar, args.steps, args.batch, args.seed)
        torch.save({'x': x, 'y': y}, os.path.join(args.out, 'batches.pt'))
        torch.save(net.state_dict(), os.path.join(args.out, 'init.pt'))
    for block in net.layer1:  # the notebook's epoch 0: twist on in layer1
        block.twist = True

    loss_func = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    net.train()
    losses = []
    start = time.time()
    for step in range(args.steps):
        opt.zero_grad()
        pred = net(x[step])
        loss = loss_func(pred, y[step])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    seconds = time.time() - start
    with open(os.path.join(args.out, 'torch_losses_float64.json' if args.float64 else 'torch_losses.json'), 'w') as f:
        json.dump({'losses': losses, 'seconds': seconds, 'width': args.width, 'batch': args.batch,
                   'threads': args.threads}, f)
    print(json.dumps({'steps': args.steps, 'firstLoss': losses[0], 'lastLoss': losses[-1], 'seconds': round(seconds, 2)}))


if __name__ == '__main__':
    main()
