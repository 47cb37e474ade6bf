#!/usr/bin/env bash
# The GPU check: grade the example class on CUDA and on the CPU of the same machine, and
# calibrate the MNIST checks on CUDA. Run from the repository root on a machine with an
# NVIDIA GPU; MNIST comes from the idx files in $MNIST_DIR. Writes its figures to $OUT
# (default build/device-check).
set -euo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-build/device-check}"
mkdir -p "$OUT"
export MNIST_CACHE="${MNIST_CACHE:-$(mktemp -d)}"
python3 - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
PY
python3 -m autograder data --from "$MNIST_DIR"
python3 examples/make_class.py "$OUT/class"
for device in cuda cpu; do
  TIMEFORMAT="grade example class on $device: %R s wall"
  time python3 -m autograder grade "$OUT/class" --out "$OUT/grades-$device" --device "$device" --workers "${WORKERS:-auto}" --no-progress
done
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
PY
python3 -m autograder calibrate --device cuda --seeds "${SEEDS:-10}" | tee "$OUT/calibration-cuda.md"
