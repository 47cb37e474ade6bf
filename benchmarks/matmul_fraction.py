"""What fraction of the machine's matrix-multiply throughput MNIST training reaches.

Three measurements, each the best of --repeat runs (all runs printed):
  (i)   peak GEMM: float32 square matmuls of --size, --peak-iters back to back;
  (ii)  the GEMMs of the lab 9-1 training epoch alone: for every Linear of build_mlp() at the
        course's batch size, the forward product and the backward products, one step's worth
        per batch of the epoch, back to back with nothing else;
  (iii) one real training epoch as the MNIST checks run it (autograder.probes.common.MnistRun:
        the kit's loader on the device, its Adam at course.toml's lr), the solution's train_epoch.

FLOPs are counted analytically, per sample: for a Linear in->out the forward is 2*in*out,
the backward 2*in*out for the weight gradient plus 2*in*out for the input gradient, except
for the first Linear, whose input (the images) needs no gradient, so autograd never computes
it. (ii) runs exactly the counted products, so training/(ii) compares like with like. Bias,
activations, loss and Adam are not counted: they are the overhead the fractions show.

Read the output: "fraction of same-shape GEMM throughput" = training FLOP/s / (ii) FLOP/s
(1.0: training runs as fast as its own matmuls alone); "fraction of peak GEMM" = training /
(i). The goal is training within a factor 1.5 of its matmuls, fraction >= 0.67 of (ii); the
last line says whether this run meets it. All numbers come from this one invocation.
"""
from __future__ import annotations

import _common
import torch
from torch import nn

from autograder.course import mnist
from autograder.probes.common import MnistRun

LAB = "lab09_1_relu"
GOAL = 1 / 1.5


def linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def flops_per_sample(shapes: list[tuple[int, int]]) -> int:
    total = 0
    for i, (n_in, n_out) in enumerate(shapes):
        total += 2 * n_in * n_out  # forward
        total += 2 * n_in * n_out  # weight gradient
        if i > 0:
            total += 2 * n_in * n_out  # input gradient (none for the first layer: the images need none)
    return total


def peak_gemm(size: int, iters: int, device: str):
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)

    def run():
        for _ in range(iters):
            torch.mm(a, b)
    return run, 2 * size**3 * iters


def step_gemms(shapes, batch: int, steps: int, device: str):
    """The products one training step does, `steps` times: what training would cost if it
    were nothing but its matmuls."""
    layers = [(torch.randn(batch, i, device=device), torch.randn(o, i, device=device),
               torch.randn(batch, o, device=device)) for i, o in shapes]

    def run():
        for _ in range(steps):
            for x, w, _ in layers:
                torch.mm(x, w.t())  # forward (B, in) @ (in, out)
            for k, (x, w, dy) in enumerate(reversed(layers)):
                torch.mm(dy.t(), x)  # weight gradient (out, B) @ (B, in)
                if k < len(layers) - 1:
                    torch.mm(dy, w)  # input gradient (B, out) @ (out, in)
    return run


def main() -> None:
    p = _common.training_parser(__doc__)
    p.add_argument("--size", type=int, default=2048, help="square matmul size for the peak (default 2048)")
    p.add_argument("--peak-iters", type=int, default=10, help="matmuls per peak measurement (default 10)")
    args = p.parse_args()
    _common.set_threads(args.threads)
    device = _common.resolve_device(args.device)
    budget = _common.mnist_budget(LAB)
    batch, lr = budget["batch_size"], budget["lr"]
    print(_common.describe_machine(device))
    if device.startswith("cuda"):
        print(f"TF32 matmul allowed: {torch.backends.cuda.matmul.allow_tf32}")

    sol = _common.load_solution(LAB)
    data = _common.mnist_tensors(device)
    loader = mnist.Batches(data["train_images"], data["train_labels"], batch, shuffle=True,
                           generator=torch.Generator().manual_seed(args.seed))
    shapes = linear_shapes(sol.build_mlp())
    samples, steps = len(data["train_labels"]), len(loader)
    epoch_flops = flops_per_sample(shapes) * samples
    print(f"lab 9-1 reference Linears {shapes}, batch {batch}, {steps} steps, Adam lr {lr} (course.toml); "
          f"{epoch_flops / 1e9:.2f} GFLOP per epoch; best of {args.repeat}\n")

    # Progress lines: on a shared machine a run can crawl (threads spinning on busy cores); they show where.
    print("measuring (i) ...", flush=True)
    run, peak_flops = peak_gemm(args.size, args.peak_iters, device)
    run()  # warm-up: first-call set-up (thread pool, cuBLAS handles) is not throughput
    t_peak = _common.repeat(run, args.repeat, device)
    print("measuring (ii) ...", flush=True)
    run = step_gemms(shapes, batch, steps, device)
    run()
    t_gemm = _common.repeat(run, args.repeat, device)
    print("measuring (iii) ...\n", flush=True)

    def train():
        torch.manual_seed(args.seed)  # every run the same work: same weights, same order
        # The grader's run: its loader and optimizer (MnistRun), the epoch without the test predictions.
        run = MnistRun.start(sol.build_mlp(), sol.train_epoch, data, device, **budget)
        run.train_epoch(run.model, run.train, run.optimizer, nn.CrossEntropyLoss(), device)
    t_train = _common.repeat(train, args.repeat, device)

    rate = {"(i) peak GEMM": peak_flops / min(t_peak), "(ii) training's GEMMs alone": epoch_flops / min(t_gemm),
            "(iii) training epoch": epoch_flops / min(t_train)}
    for (name, flops), times in zip(rate.items(), (t_peak, t_gemm, t_train)):
        print(f"{name:<28} {flops / 1e9:8.1f} GFLOP/s   {_common.summary(times)}")
    frac_same = rate["(iii) training epoch"] / rate["(ii) training's GEMMs alone"]
    frac_peak = rate["(iii) training epoch"] / rate["(i) peak GEMM"]
    print(f"\nfraction of same-shape GEMM throughput (iii)/(ii): {frac_same:.3f}  (training {1 / frac_same:.2f}x slower)")
    print(f"fraction of peak GEMM (iii)/(i): {frac_peak:.3f}")
    print(f"goal: training within 1.5x of its matmuls, fraction >= {GOAL:.2f}: "
          f"{'MET' if frac_same >= GOAL else 'NOT MET'} ({frac_same:.3f})")


if __name__ == "__main__":
    main()
