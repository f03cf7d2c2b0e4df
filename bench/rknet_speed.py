"""Training-step time of the DynamicBlocks reference RKNet under PyTorch (the reference code itself), for
bench/rknet-speed.sh. usage: rknet_speed.py BATCH STEPS -> prints one JSON line {"images_per_s": ..., "step_s": [...]}.
Needs the reference repository (exported like test/fixtures/make_dynamicblocks_fixture.py does) and Debian's PyTorch."""
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "fixtures"))
from make_dynamicblocks_fixture import export_reference  # noqa: E402


def main():
    batch, steps = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(int(os.environ.get("PDENET_NUM_THREADS", "2")))
    export_reference()
    from RKNet import RKNet
    from utils import misfit
    import torch.optim as optim
    torch.manual_seed(0)
    net = RKNet([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], 3, 10, [16, 32, 64, 64])
    optimizer = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=4e-4)
    x = torch.rand(batch, 3, 32, 32) - 0.5
    y = torch.randint(0, 10, (batch,))
    times = []
    for s in range(steps + 1):
        start = time.perf_counter()
        net.train()
        optimizer.zero_grad()
        loss, _ = misfit(net(x), y)
        loss.backward()
        optimizer.step()
        net.clip()
        if s > 0:  # the first step warms up
            times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"images_per_s": batch / times[len(times) // 2], "step_s": times, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
