"""The DynamicBlocks reference RKNet trained for a few steps by the reference code itself, for bench/rknet-parity.sh.

Needs the reference repository EmoryMLIP/DynamicBlocks at commit 52acc9fbc1a2 (exported from the mirror like
test/fixtures/make_dynamicblocks_fixture.py does) and Debian's PyTorch (/usr/bin/python3). Writes into OUT:
    init.pt       the initial state_dict of the reference's runDefault network (RKNet.py, vFeat [16, 32, 64, 64]);
    batches.pt    {"inputs": S x B x 3 x 32 x 32, "labels": S x B}: CIFAR-10 training JPEGs, ToTensor then the
                  reference's shift (mean 0.5, std 1), no augmentation; image i of step s is number (s*B+i)//10 of
                  class (s*B+i)%10;
    reference.json  the per-step losses of runDefault's optimizer (SGD lr 0.1, momentum 0.9, weight decay 4e-4 except
                  the parameters named normLayer, no Nesterov) with net.clip() after every step, as trainNet does.
    state_S.pt    with SNAPSHOTS=1 in the environment, the state_dict after each step S (for locating a drift).
usage: rknet_parity.py OUT [STEPS=50] [BATCH=32] [DATA=/work/data/train]
"""
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "fixtures"))
from make_dynamicblocks_fixture import export_reference  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def main():
    out = os.path.abspath(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    data = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else "/work/data/train"
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("PDENET_NUM_THREADS", "2")))
    inputs = torch.zeros(steps, batch, 3, 32, 32)
    labels = torch.zeros(steps, batch, dtype=torch.int64)
    for s in range(steps):
        for i in range(batch):
            n = s * batch + i
            c, k = n % 10, n // 10
            img = np.asarray(Image.open(os.path.join(data, CLASSES[c], f"{k:04d}.jpg")).convert("RGB"), dtype=np.float32)
            inputs[s, i] = torch.from_numpy(img / 255.0).permute(2, 0, 1) - 0.5  # ToTensor, Normalize(0.5, 1)
            labels[s, i] = c
    torch.save({"inputs": inputs, "labels": labels}, os.path.join(out, "batches.pt"))

    export_reference()
    from RKNet import RKNet
    from utils import misfit
    import torch.optim as optim

    torch.manual_seed(0)
    net = RKNet([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], 3, 10, [16, 32, 64, 64])
    torch.save(net.state_dict(), os.path.join(out, "init.pt"))
    norm = [p for n, p in net.named_parameters() if "normLayer" in n]
    rest = [p for n, p in net.named_parameters() if "normLayer" not in n]
    optimizer = optim.SGD([{"params": norm, "weight_decay": 0}, {"params": rest}], lr=0.1, momentum=0.9,
                          weight_decay=4e-4, nesterov=False)
    losses = []
    start = time.time()
    for s in range(steps):
        net.train()
        optimizer.zero_grad()
        loss, _ = misfit(net(inputs[s]), labels[s])
        loss.backward()
        optimizer.step()
        net.clip()
        losses.append(loss.item())
        if os.environ.get("SNAPSHOTS") == "1":
            torch.save(net.state_dict(), os.path.join(out, f"state_{s + 1}.pt"))
    seconds = time.time() - start
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"losses": losses, "seconds": seconds, "steps": steps, "batch": batch,
                   "threads": torch.get_num_threads()}, f)
    print(f"reference: {steps} steps of {batch} in {seconds:.1f} s; loss {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
