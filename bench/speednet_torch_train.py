"""PyTorch's side of the recipe comparison in BENCHMARKS.md ("The same recipe in PyTorch").

Trains the network of bench/speednet_torch.py (SpeedNet, twist in group 1) with the default recipe of
recipes/cifar10-default.json, written out again in PyTorch: SGD + Nesterov 0.85 on the summed loss in the
speed runs' decoupled units, BatchNorm shifts at 64x the learning rate, linear one-cycle (0.2 -> 1 at 23% -> 0.07),
label smoothing 0.2, lookahead every 5 steps with weight 0.95^5 (t/T)^3, the whitening layer's bias held at 0
(the recipe's freezeAfter), alternating flips and 2-pixel reflect-padded translations, bf16 autocast, channels-last; at the end
flip + 1-pixel translation test-time augmentation. The data is pdenet's own split, written by
bench/export-split.ts, so both trainers see the same 45,000 training and 5,000 validation images.

    node dist/bench/export-split.js ../shared/datasets/cifar10-jpeg /tmp/split
    /usr/bin/python3 bench/speednet_torch_train.py /tmp/split [--epochs 10] [--threads 2] [--seed 0]

Prints one line per epoch and, last, one JSON object {valAccuracy, valAccuracyTta, seconds, epochs}.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from speednet_torch import SpeedNet


def load(folder, name):
    x = np.fromfile(os.path.join(folder, f'{name}_x.u8'), dtype=np.uint8)
    y = np.fromfile(os.path.join(folder, f'{name}_y.i32'), dtype=np.int32)
    x = torch.from_numpy(x).reshape(len(y), 32, 32, 3).permute(0, 3, 1, 2)
    return x, torch.from_numpy(y).long()


def whiten_(layer, images, eps=5e-4):
    """Filters +-v_i / sqrt(lambda_i + eps) from the covariance of all 2x2 patches, largest lambda first."""
    patches = images.double().unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 12)
    cov = patches.T @ patches / len(patches)
    lam, vec = torch.linalg.eigh(cov, UPLO='U')
    filters = vec.T.flip(0).reshape(12, 3, 2, 2) / (lam.flip(0) + eps).sqrt().reshape(-1, 1, 1, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.cat([filters, -filters]).float())


def crop(padded, size, generator):
    """Each image shifted by its own (dy, dx) in [-r, r]^2 out of a reflect-padded batch."""
    r = (padded.shape[-1] - size) // 2
    shifts = torch.randint(-r, r + 1, (len(padded), 2), generator=generator)
    out = torch.empty(len(padded), padded.shape[1], size, size, dtype=padded.dtype)
    for sy in range(-r, r + 1):
        for sx in range(-r, r + 1):
            m = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[m] = padded[m, :, r + sy:r + sy + size, r + sx:r + sx + size]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('split')
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    start = time.perf_counter()

    train_x, train_y = load(a.split, 'train')
    val_x, val_y = load(a.split, 'val')
    mean = (train_x.float() / 255).mean((0, 2, 3)).reshape(1, 3, 1, 1)
    std = (train_x.float() / 255).std((0, 2, 3)).reshape(1, 3, 1, 1)
    norm = lambda u8: ((u8.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
    train_n = norm(train_x)
    val_n = norm(val_x)

    model = SpeedNet([True, False, False])
    for m in model.modules():  # Dirac initialization of every 3x3 convolution, as src/models/speednet.ts
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3):
            torch.nn.init.dirac_(m.weight.data[:m.weight.shape[1]])
    model.groups[0].conv2.weight.data.zero_()
    torch.nn.init.dirac_(model.groups[0].conv2.weight.data)
    whiten_(model.whiten, train_n[:5000].contiguous())
    model = model.to(memory_format=torch.channels_last)

    batch, momentum = 1024, 0.85
    steps_per_epoch = len(train_y) // batch
    total = steps_per_epoch * a.epochs
    lr, wd, bias_lr = 1.5 / batch, 0.00133 * 1.5, 64  # summed loss: lr per image; decay as an absolute shrink
    biases = [q for q in model.parameters() if q.requires_grad and q.ndim == 1]
    weights = [q for q in model.parameters() if q.requires_grad and q.ndim > 1]
    opt = torch.optim.SGD([dict(params=weights, lr=lr, weight_decay=wd / lr),
                           dict(params=biases, lr=lr * bias_lr, weight_decay=wd / (lr * bias_lr))],
                          momentum=momentum, nesterov=True)
    base = [g['lr'] for g in opt.param_groups]
    peak = int(0.23 * total)
    factor = lambda t: 0.2 + 0.8 * t / peak if t < peak else 1 - 0.93 * (t - peak) / (total - peak)
    slow = {k: v.clone() for k, v in model.state_dict().items()}

    def meet(d):
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                slow[k].lerp_(v, 1 - d)
                v.copy_(slow[k])

    def logits(x):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            return torch.cat([model(b) for b in x.split(1000)]).float()

    def evaluate(tta):
        model.eval()
        with torch.no_grad():
            out = logits(val_n) + logits(val_n.flip(-1))
            if tta:
                padded = F.pad(val_n, (1,) * 4, 'reflect')
                shifted = [padded[:, :, 0:32, 0:32].contiguous(memory_format=torch.channels_last),
                           padded[:, :, 2:34, 2:34].contiguous(memory_format=torch.channels_last)]
                out = out / 2 + sum(logits(s) + logits(s.flip(-1)) for s in shifted) / 8
        model.train()
        return (out.argmax(1) == val_y).float().mean().item()

    flips = torch.rand(len(train_y), generator=gen) < 0.5
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.2, reduction='sum')
    t = 0
    for epoch in range(a.epochs):
        epoch_start = time.perf_counter()
        images = torch.where((flips ^ (epoch % 2 == 1)).reshape(-1, 1, 1, 1), train_n.flip(-1), train_n)
        images = crop(F.pad(images, (2,) * 4, 'reflect'), 32, gen).contiguous(memory_format=torch.channels_last)
        order = torch.randperm(len(train_y), generator=gen)
        correct = 0
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            for g, b in zip(opt.param_groups, base):
                g['lr'] = b * factor(t)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                out = model(images[idx])
            loss = loss_fn(out.float(), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            t += 1
            if t % 5 == 0 or t == total:
                meet(1.0 if t == total else 0.95 ** 5 * (t / total) ** 3)
            correct += (out.argmax(1) == train_y[idx]).sum().item()
        seconds = time.perf_counter() - epoch_start
        acc = evaluate(False)
        print(f'epoch {epoch + 1}: train {correct / (steps_per_epoch * batch):.4f} val {acc:.4f} '
              f'{seconds:.1f} s ({steps_per_epoch * batch / seconds:.0f} images/s)', flush=True)
    print(json.dumps({'valAccuracy': acc, 'valAccuracyTta': evaluate(True),
                      'seconds': time.perf_counter() - start, 'epochs': a.epochs}))


if __name__ == '__main__':
    main()
