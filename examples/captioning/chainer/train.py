"""Train the Chainer captioner (model.py) on the example's synthetic pictures and write, next to this file,
captioner.npz (chainer.serializers.save_npz) and samples.json: Chainer's greedy captions of the page's
sample images (../samples.json) with their smallest top-2 probability gap, and the greedy caption
accuracy on 200 held-out pictures.

Teacher forcing: per batch, reset the LSTM, prime it with the image feature, then feed <start> a big
red circle and predict each next word.

    .venv/bin/python examples/captioning/chainer/train.py [--samples-only]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import chainer
import chainer.functions as F
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import Captioner, greedy_captions  # noqa: E402
from pictures import SIZE, make_data, to_float  # noqa: E402

WEIGHTS = HERE / "captioner.npz"


def to_nchw(images_uint8: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(to_float(images_uint8).transpose(0, 3, 1, 2))


def caption_loss(model: Captioner, images: np.ndarray, ids: np.ndarray):
    model.lstm.reset_state()
    model.prime(model.encode(images))
    loss = 0
    for t in range(ids.shape[1] - 1):
        loss += F.softmax_cross_entropy(model.logits(ids[:, t]), ids[:, t + 1])
    return loss / (ids.shape[1] - 1)


def accuracy(model: Captioner, images: np.ndarray, truths: list) -> float:
    captions = [c for c, _ in greedy_captions(model, images)]
    return float(np.mean([c == t for c, t in zip(captions, truths)]))


def train(epochs: int, budget_s: float, resume: bool = False, weights: Path = WEIGHTS) -> Captioner:
    chainer.config.dtype = np.float32
    np.random.seed(0)
    images, ids, _ = make_data(4000, np.random.default_rng(0))
    val_images, _, val_truths = make_data(100, np.random.default_rng(2))
    x, val_x = to_nchw(images), to_nchw(val_images)
    model = Captioner()
    if resume:
        chainer.serializers.load_npz(WEIGHTS, model)
    optimizer = chainer.optimizers.Adam(alpha=0.003)
    optimizer.setup(model)
    started = time.perf_counter()
    for epoch in range(epochs):
        if epoch == epochs * 2 // 3:
            optimizer.alpha = 0.001          # settle: the last third at a lower rate
        order = np.random.permutation(len(x))
        total = 0.0
        for s in range(0, len(x), 64):
            batch = order[s:s + 64]
            loss = caption_loss(model, x[batch], ids[batch])
            model.cleargrads()
            loss.backward()
            optimizer.update()
            total += float(loss.array) * len(batch)
        acc = accuracy(model, val_x, val_truths)
        elapsed = time.perf_counter() - started
        print(f"epoch {epoch + 1}: loss {total / len(x):.4f}, validation captions {acc:.2f}, {elapsed:.0f} s",
              flush=True)
        if (acc >= 0.99 and epoch >= 3) or elapsed > budget_s:
            break
    chainer.serializers.save_npz(weights, model)
    return model


def write_samples(model: Captioner, samples_path: Path = HERE / "samples.json") -> None:
    shared = json.loads((HERE.parent / "samples.json").read_text())["samples"]
    pictures = np.array([s["pixels"] for s in shared], np.uint8).reshape(-1, SIZE, SIZE, 3)
    results = greedy_captions(model, to_nchw(pictures))
    images, _, truths = make_data(200, np.random.default_rng(1))
    held_out = accuracy(model, to_nchw(images), truths)
    print(f"held-out greedy caption accuracy {held_out:.3f}")
    samples = [{"chainer": c, "min_top2_gap": g} for c, g in results]
    for s, shared_s in zip(samples, shared):
        print(f"truth {shared_s['truth']!r:28} chainer {s['chainer']!r:28} gap {s['min_top2_gap']:.3f}")
    samples_path.write_text(json.dumps({"held_out_accuracy": held_out, "samples": samples},
                                                  indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-only", action="store_true",
                        help="keep captioner.npz, rewrite samples.json")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--resume", action="store_true", help="continue from captioner.npz")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder for captioner.npz and samples.json (default: next to this file)")
    parser.add_argument("--budget", type=float, default=900, help="stop training after this many seconds")
    args = parser.parse_args()
    if args.samples_only:
        model = Captioner()
        chainer.serializers.load_npz(WEIGHTS, model)
    else:
        model = train(args.epochs, args.budget, args.resume, args.out / WEIGHTS.name)
    write_samples(model, args.out / "samples.json")


if __name__ == "__main__":
    main()
