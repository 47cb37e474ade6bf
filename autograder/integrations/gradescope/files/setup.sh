#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (base image:
# Ubuntu 22.04). It installs Python 3.11, the grading kit with its pinned dependencies
# (torch's CPU build) in $KIT, and prepares MNIST into the image, so that nothing is
# downloaded when a submission is graded. Written by `autograder gradescope` (docs/gradescope.md).
set -euxo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # /autograder/source
KIT=/opt/dnn-grading-kit                                    # run_autograder reads it there
TORCH_INDEX=https://download.pytorch.org/whl/cpu            # CPU wheels: no CUDA libraries

export DEBIAN_FRONTEND=noninteractive
# Ubuntu 22.04's own Python is 3.10; the kit needs 3.11 (deadsnakes builds it for Ubuntu).
apt-get update
apt-get install -y --no-install-recommends software-properties-common gnupg ca-certificates
add-apt-repository -y ppa:deadsnakes/ppa
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv tzdata

rm -rf "$KIT"
cp -r "$SOURCE/kit" "$KIT"
python3.11 -m venv "$KIT/venv"
"$KIT/venv/bin/python" -m pip install --no-cache-dir --index-url "$TORCH_INDEX" {torch_pins}
"$KIT/venv/bin/python" -m pip install --no-cache-dir -r "$KIT/requirements.txt"
# Bytecode in the image: every run starts from it, and would otherwise compile the kit again.
"$KIT/venv/bin/python" -m compileall -q "$KIT/autograder"
# Readable by the workers' unprivileged uids; run_autograder closes what they must not read.
chmod -R a+rX "$KIT"

# MNIST, verified against its published SHA-256, cached in the image.
if [ -d "$SOURCE/mnist" ]; then
    FROM=(--from "$SOURCE/mnist")
else
    FROM=()
fi
cd "$KIT"
MNIST_CACHE="$KIT/mnist-cache" PYTHONPATH="$KIT" "$KIT/venv/bin/python" -P -m autograder data "${FROM[@]}"
# The kit imports and finds its course: fail the build here rather than every submission.
PYTHONPATH="$KIT" "$KIT/venv/bin/python" -P -c "from autograder.course import config; print(config.load_course().name)"
