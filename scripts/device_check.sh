#!/usr/bin/env bash
# The GPU check, in one run of about 9 minutes on one H100: what a confined worker sees on
# CUDA (its allow-list root with NVIDIA's device nodes; does torch find the GPU inside it?)
# and its start-up against the deny list's, grade the example class on CUDA and on the CPU
# of the same machine (same grades?), one complete submission on CUDA, a student who runs
# out of GPU memory beside two who do not, the speed benchmarks on CUDA, and what one lab
# costs there. Run from the repository root on a machine with an NVIDIA GPU; MNIST comes
# from the idx files in $MNIST_DIR. Writes its figures to $OUT (default build/device-check).
set -euo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-build/device-check}"
mkdir -p "$OUT"
export MNIST_CACHE="${MNIST_CACHE:-$(mktemp -d)}"
python3 - <<'PY'
import os, torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}, {os.cpu_count()} CPU cores")
print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
PY
python3 -P -m autograder data --from "$MNIST_DIR"
python3 benchmarks/worker_start.py --show-root --device cuda
python3 benchmarks/worker_start.py --device cuda --rounds 5 || echo "worker start-up not compared (it needs the git history)"
python3 examples/make_class.py "$OUT/class"
for device in cuda cpu; do
  TIMEFORMAT="grade example class on $device: %R s wall"
  time python3 -P -m autograder grade "$OUT/class" --out "$OUT/grades-$device" --device "$device" --no-progress >/dev/null
done
# One complete submission, and a class where one student exhausts the GPU memory share.
mkdir -p "$OUT/one/reference" "$OUT/oom"
cp -r solutions/* "$OUT/one/reference/"
for s in alice bob greedy; do mkdir -p "$OUT/oom/$s" && cp -r solutions/lab09_1_relu "$OUT/oom/$s/"; done
python3 - "$OUT/oom/greedy/lab09_1_relu/relu_mlp.py" <<'PY'
import sys
from pathlib import Path
p = Path(sys.argv[1])
s = p.read_text()
marker = "def train_epoch("
head, tail = s.split(marker, 1)
sig, body = tail.split("\n", 1)
# far beyond any worker's share of the GPU: CUDA's out-of-memory error in train_epoch
p.write_text(head + marker + sig + "\n    hog = torch.empty(int(400e9), dtype=torch.uint8, device=device)\n" + body)
PY
TIMEFORMAT="grade one complete submission on cuda: %R s wall"
time python3 -P -m autograder grade "$OUT/one" --out "$OUT/grades-one" --device cuda --no-progress >/dev/null
python3 -P -m autograder grade "$OUT/oom" --out "$OUT/grades-oom" --device cuda --no-progress
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for device in ("cuda", "cpu"):
    res = json.loads((out / f"grades-{device}" / "reference" / "results.json").read_text())
    labs = res["extra_data"]["labs"]
    print(device, "reference score", res["score"], {k: (v["device"], v["seconds"]) for k, v in labs.items()})
cuda = (out / "grades-cuda" / "grades.csv").read_text()
cpu = (out / "grades-cpu" / "grades.csv").read_text()
print("same grades on cuda and cpu:", cuda == cpu)
one = json.loads((out / "grades-one" / "reference" / "results.json").read_text())
print("one submission on cuda:", one["score"], {k: v["seconds"] for k, v in one["extra_data"]["labs"].items()})
greedy = json.loads((out / "grades-oom" / "greedy" / "results.json").read_text())
print("greedy student's MNIST check:", greedy["extra_data"]["labs"]["lab09_1_relu"]["checks"]["mnist_accuracy"])
PY
python3 benchmarks/loader_vs_dataloader.py --device cuda --repeat 3
python3 benchmarks/matmul_fraction.py --device cuda --repeat 3
python3 benchmarks/class_speed.py --device cuda --students 4
# What one lab costs on CUDA (CPU-s, memory, GPU memory): the figures of docs/scale.md.
python3 benchmarks/lab_cost.py --device cuda --repeat 1 || echo "lab_cost.py could not run (it needs a writable cgroup)"
