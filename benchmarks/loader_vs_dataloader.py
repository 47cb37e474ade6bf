"""One MNIST training epoch of the lab 9-1 reference model through the kit's in-memory loader
against the labs' usual torchvision + DataLoader path.

(a) kit:        autograder.course.mnist.Batches over the cached uint8 tensors, already on the device
                (what grading does: autograder/probes/common.py mnist_run);
(b) dataloader: torchvision.datasets.MNIST(transform=ToTensor()) + torch.utils.data.DataLoader
                (shuffle=True), each batch moved to the device by train_epoch.

Both train build_mlp() from solutions/lab09_1_relu/relu_mlp.py with the same seed, Adam at
course.toml's lr and batch size, through the solution's own train_epoch. "loader only"
iterates the same epoch without training (each batch moved to the device, so that (b) pays
its copy as in training). Every time is the best of --repeat runs (all runs are printed).

Read the ratios: (b)/(a) > 1 means the DataLoader path is that many times slower than the
kit's loader; "full epoch" is what a student's training pays, "loader only" is the loader
alone. All numbers come from this one invocation.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import _common
import torch
from torch import nn

from autograder.course import mnist

LAB = "lab09_1_relu"


def kit_loader(data: dict, batch_size: int, seed: int) -> mnist.Batches:
    # As mnist_run builds it: shuffled, a seeded CPU generator, tensors on the device.
    return mnist.Batches(data["train_images"], data["train_labels"], batch_size, shuffle=True,
                         generator=torch.Generator().manual_seed(seed))


def torchvision_loader(root: Path, batch_size: int, workers: int, seed: int):
    from torchvision import datasets, transforms

    ds = datasets.MNIST(root, train=True, transform=transforms.ToTensor(), download=False)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       generator=torch.Generator().manual_seed(seed))


def train_once(sol, loader, lr: float, device: str, seed: int) -> float:
    torch.manual_seed(seed)  # the same initial weights for every run of both loaders
    loader.generator.manual_seed(seed)  # and the same order in every run of one loader
    model = sol.build_mlp().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return sol.train_epoch(model, loader, optimizer, nn.CrossEntropyLoss(), device)


def iterate_once(loader, device: str) -> None:
    for images, labels in loader:
        images.to(device), labels.to(device)


def main() -> None:
    p = _common.training_parser(__doc__)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers (default 0, the labs' default)")
    args = p.parse_args()
    _common.set_threads(args.threads)
    device = _common.resolve_device(args.device)
    if not os.environ.get("MNIST_DIR"):
        p.error("set MNIST_DIR to the folder with the four MNIST idx files (torchvision's copy is built from it)")
    budget = _common.mnist_budget(LAB)
    batch_size, lr = budget["batch_size"], budget["lr"]
    print(_common.describe_machine(device))
    print(f"lab 9-1 reference, one epoch of 60000 images, batch {batch_size}, Adam lr {lr} (course.toml); "
          f"DataLoader num_workers={args.num_workers}; best of {args.repeat}\n")

    sol = _common.load_solution(LAB)
    data = _common.mnist_tensors(device)
    with tempfile.TemporaryDirectory(prefix="bench-tv-") as tmp:
        # torchvision's raw/ layout from the local idx files, by the kit's own import (never a download).
        mnist._import_raw(Path(os.environ["MNIST_DIR"]), Path(tmp) / "MNIST" / "raw")
        kit = kit_loader(data, batch_size, args.seed)
        tv = torchvision_loader(Path(tmp), batch_size, args.num_workers, args.seed)
        rows = {}
        for name, loader in (("(a) kit Batches", kit), ("(b) torchvision DataLoader", tv)):
            losses = []
            full = _common.repeat(lambda: losses.append(train_once(sol, loader, lr, device, args.seed)),
                                  args.repeat, device)
            only = _common.repeat(lambda: iterate_once(loader, device), args.repeat, device)
            rows[name] = (full, only)
            print(f"{name}\n  full epoch : {_common.summary(full)}  (mean loss {losses[-1]:.4f})\n"
                  f"  loader only: {_common.summary(only)}")
    (a_full, a_only), (b_full, b_only) = rows.values()
    print(f"\nratio (b)/(a), full epoch : {min(b_full) / min(a_full):.2f}x")
    print(f"ratio (b)/(a), loader only: {min(b_only) / min(a_only):.2f}x")


if __name__ == "__main__":
    main()
