"""Submissions written the way the lecture writes its labs: notebooks (and pasted .py files)
full of top-level experiment code around the answers.

The experiment cells follow the lecture's code for labs 9-1 to 9-4: Korean comments and
prints, a torchvision MNIST download at the top level (no network where grading runs), a
15-epoch training loop (far beyond any check's time), matplotlib plots, `%matplotlib
inline`, and saved image outputs. The answers are the reference solutions, so every such
submission should earn full marks.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.conftest import ROOT

LECTURE_HEAD = """\
%matplotlib inline
import torch
import torchvision.datasets as dsets
import torchvision.transforms as transforms
import matplotlib.pyplot as plt
import random

# GPU가 있으면 사용합니다
device = 'cuda' if torch.cuda.is_available() else 'cpu'

# 재현성을 위해 시드를 고정합니다
random.seed(777)
torch.manual_seed(777)
if device == 'cuda':
    torch.cuda.manual_seed_all(777)
print("장치:", device)
"""

LECTURE_DATA = """\
# 하이퍼파라미터
learning_rate = 0.001
training_epochs = 15
batch_size = 100

# MNIST 데이터셋을 내려받습니다
mnist_train = dsets.MNIST(root='MNIST_data/', train=True, transform=transforms.ToTensor(), download=True)
mnist_test = dsets.MNIST(root='MNIST_data/', train=False, transform=transforms.ToTensor(), download=True)
data_loader = torch.utils.data.DataLoader(dataset=mnist_train, batch_size=batch_size, shuffle=True, drop_last=True)
test_loader = torch.utils.data.DataLoader(dataset=mnist_test, batch_size=batch_size)
"""

LECTURE_TRAIN = """\
model = {build}.to(device)
criterion = torch.nn.CrossEntropyLoss().to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

costs, accuracies = [], []
for epoch in range(training_epochs):
    cost = train_epoch(model, data_loader, optimizer, criterion, device)
    acc = evaluate(model, test_loader, device)
    costs.append(cost)
    accuracies.append(acc)
    print('Epoch:', '%04d' % (epoch + 1), 'cost =', '{{:.9f}}'.format(cost), '정확도:', acc)
print('학습 완료!')
"""

LECTURE_PLOT = """\
# 학습 곡선을 그립니다
plt.plot(costs, label='cost')
plt.plot(accuracies, label='accuracy')
plt.legend()
plt.title('드롭아웃 학습 곡선')
plt.show()
!nvidia-smi
"""

BUILD = {
    "lab09_1_relu": "build_mlp((256, 256), 'relu')",
    "lab09_3_dropout": "build_dropout_mlp(p=0.3)",
    "lab09_4_batchnorm": "build_bn_mlp(hidden=32)",
}


def reference(lab: str, module: str) -> str:
    return (ROOT / "solutions" / lab / f"{module}.py").read_text(encoding="utf-8")


def png_output(size: int) -> dict:
    """A saved plot as a notebook stores it: base64 PNG bytes of about `size` bytes."""
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * (size * 3 // 4 // 256 + 1)).decode()
    return {"output_type": "display_data", "metadata": {}, "data": {"image/png": data[:size], "text/plain": "<Figure>"}}


def code_cell(source: str, outputs: list[dict] | None = None) -> dict:
    return {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": outputs or [],
            "source": source.splitlines(keepends=True)}


def notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def lecture_notebook(lab: str, module: str, image_bytes: int = 0, answers: str | None = None) -> dict:
    """The reference answers in one cell, then the lecture's experiment cells around them;
    `image_bytes` of saved plot output on the plot cell."""
    build = BUILD.get(lab)
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# 실습: " + lab]},
        code_cell(LECTURE_HEAD, [{"output_type": "stream", "name": "stdout", "text": ["장치: cpu\n"]}]),
        code_cell(answers if answers is not None else reference(lab, module)),
    ]
    if build:
        cells += [code_cell(LECTURE_DATA), code_cell(LECTURE_TRAIN.format(build=build)),
                  code_cell(LECTURE_PLOT, [png_output(image_bytes)] if image_bytes else [])]
    else:
        cells.append(code_cell("print('결과를 확인합니다')\nplt.plot([1, 2, 3])\nplt.show()\n",
                               [png_output(image_bytes)] if image_bytes else []))
    return notebook(cells)


def write_notebook(path: Path, nb: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
