"""The measured alternative to the shipped colour-LBP model: a small CNN (torch, CPU, training only).

    nice .venv/bin/python training/pad_cnn.py --loso      # leave-one-source-out, same splits as pad_eval
    nice .venv/bin/python training/pad_cnn.py --export F  # train on the full pool, export ONNX to F

Same samples, crops and (source, label) weighting as the LBP model (training/pad_data.py), so the
two are compared on equal terms. ~60 k parameters on 64x64 crops.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import pad_data  # noqa: E402
import pad_model as PM  # noqa: E402

SIZE = 64


def build_net():
    import torch.nn as nn

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                             nn.MaxPool2d(2))
    return nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, 1))


def to_input(C: np.ndarray) -> np.ndarray:
    import cv2

    x = np.stack([cv2.resize(c, (SIZE, SIZE), interpolation=cv2.INTER_AREA) for c in C]).astype(np.float32)
    return (x[..., ::-1] / 127.5 - 1.0).transpose(0, 3, 1, 2).copy()  # RGB, [-1, 1], NCHW


def train(X: np.ndarray, y: np.ndarray, w: np.ndarray, epochs: int, seed: int = pad_data.SEED):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    Xt, yt, wt = torch.from_numpy(X), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(w.astype(np.float32))
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")
    for ep in range(epochs):
        net.train()
        perm = rng.permutation(len(X))
        for b in range(0, len(perm), 64):
            idx = torch.from_numpy(perm[b:b + 64])
            xb = Xt[idx]
            if rng.random() < 0.5:
                xb = torch.flip(xb, dims=[3])
            out = net(xb).squeeze(1)
            loss = (lossf(out, yt[idx]) * wt[idx]).sum() / wt[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net


def predict(net, X: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = torch.cat([net(torch.from_numpy(X[i:i + 256])).squeeze(1) for i in range(0, len(X), 256)])
    return torch.sigmoid(out).numpy()


def main(argv=None) -> int:
    import pad_eval

    ap = argparse.ArgumentParser()
    ap.add_argument("--loso", action="store_true")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--export", default=None)
    ap.add_argument("--out", default=str(REPO / "reports" / "pad_cnn_loso.json"))
    args = ap.parse_args(argv)
    samples = pad_data.build_samples()
    C, ok = pad_data.crops(samples, pad_data.CROPS_ALL)
    C = C["inner"]
    S = np.array([s.source for s in samples])
    split = np.array([s.split for s in samples])
    y = np.array([s.label == "live" for s in samples]).astype(float)
    types = np.array([s.attack_type for s in samples])
    pool = np.array([s.in_training_pool for s in samples]) & ok
    X = np.zeros((len(samples), 3, SIZE, SIZE), np.float32)
    X[ok] = to_input(C[ok])
    report = {"epochs": args.epochs, "loso": {}}
    if args.loso:
        pad = (split == "pad") & ok
        base = (split == "train") & pool
        t0 = time.time()
        for name, srcs in pad_eval.LOSO_SOURCES.items():
            if name == "misc":
                continue
            held = pad & np.isin(S, srcs)
            tr = base | (pad & ~np.isin(S, srcs))
            net = train(X[tr], y[tr], PM.group_weights(S[tr], y[tr]), args.epochs)
            sc_tr = predict(net, X[tr])
            thr = PM.choose_threshold(sc_tr, y[tr] == 1, split[tr] != "pad")  # in-sample: optimistic
            report["loso"][name] = pad_eval.metrics(predict(net, X[held]), y[held] == 1, types[held], thr)
            print(f"CNN LOSO {name}: {report['loso'][name]}", flush=True)
        report["seconds"] = round(time.time() - t0, 1)
        Path(args.out).parent.mkdir(exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
    if args.export:
        import torch

        net = train(X[pool], y[pool], PM.group_weights(S[pool], y[pool]), args.epochs)
        torch.onnx.export(net, torch.zeros(1, 3, SIZE, SIZE), args.export, input_names=["x"], output_names=["logit"],
                          dynamic_axes={"x": {0: "n"}, "logit": {0: "n"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
