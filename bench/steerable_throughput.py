"""Training throughput of steerable GAN training vs plain GAN training, measured in one run.

The digits DCGAN of `steerlab reproduce steerable-training` (32 px, width 16, batch 64) on the
scikit-learn digits. Chunks of CHUNK steps of each mode are timed interleaved (plain, aug,
joint, plain, ...) and the medians compared, because the machine is shared and noisy. The joint
G,W mode (Eq. 3-5) adds, per step, a no-grad generator forward for the target edit(G(z), alpha),
the edit itself (on the fakes' sources and on the real batch) and the masked L2.
Last line: `joint G,W / plain throughput ratio: X`.
"""
from __future__ import annotations

import statistics
import time

import torch

from steerlab.data.digits import digits_dataset
from steerlab.training import GANConfig, digit_gan, train_gan

CHUNK, REPEATS, BATCH = 10, 7, 64
MODES = {"plain": {}, "aug (W + aug)": {"aug_edit": "zoom"}, "joint (G,W)": {"joint_edit": "zoom", "joint_lr": 0.01}}


def main() -> None:
    images, labels = digits_dataset(32)
    G, D = digit_gan(32, 1, 10)
    times: dict[str, list[float]] = {m: [] for m in MODES}

    def chunk(mode: str) -> float:
        cfg = GANConfig(steps=CHUNK, batch_size=BATCH, checkpoint_every=10 ** 9, **MODES[mode])
        t = time.perf_counter()
        train_gan(G, D, images, labels, config=cfg, progress=False)
        return time.perf_counter() - t

    for mode in MODES:  # warm up
        chunk(mode)
    for _ in range(REPEATS):
        for mode in MODES:
            times[mode].append(chunk(mode))
    rate = {m: CHUNK / statistics.median(v) for m, v in times.items()}
    print(f"threads {torch.get_num_threads()}, batch {BATCH}, {REPEATS} interleaved chunks of {CHUNK} steps (medians)")
    for m, r in rate.items():
        print(f"{m:<15} {r:7.2f} steps/s  ({1e3 / r:6.1f} ms/step)")
    print(f"aug / plain throughput ratio: {rate['aug (W + aug)'] / rate['plain']:.3f}")
    print(f"joint G,W / plain throughput ratio: {rate['joint (G,W)'] / rate['plain']:.3f}")


if __name__ == "__main__":
    main()
