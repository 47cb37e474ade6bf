"""MNIST: import or download the idx files, verify them, cache tensors, serve batches.

Parsing is torchvision's (datasets.MNIST reads the raw idx files); the kit adds the
SHA-256 check and a tensor cache so that grading never touches the idx files again.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
# torch is imported where it is used: the class grader reads course facts from here and
# starts its servers before it loads torch (about 1 s).

# SHA-256 of the decompressed idx files (the bytes torchvision reads from raw/).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
CACHE_FILE = "mnist-tensors.pt"
# What grading workers get: everything but the test labels, which only the grader holds.
INPUTS_FILE = "mnist-inputs.pt"
INPUT_KEYS = ("train_images", "train_labels", "test_images")


class MnistError(RuntimeError):
    """MNIST is missing or corrupt; the message says how to fix it."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _import_raw(source: Path, raw_dir: Path) -> None:
    """Copy the four idx files (plain or .gz) from `source` into torchvision's raw/ layout."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in SHA256:
        plain, gz = source / name, source / f"{name}.gz"
        if plain.is_file():
            shutil.copyfile(plain, raw_dir / name)
        elif gz.is_file():
            with gzip.open(gz, "rb") as src, open(raw_dir / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            raise MnistError(
                f"{source} has neither {name} nor {name}.gz; expected the four MNIST idx files "
                f"({', '.join(SHA256)}), plain or gzip-compressed"
            )


def _verify(raw_dir: Path) -> None:
    for name, expected in SHA256.items():
        found = _sha256(raw_dir / name)
        if found != expected:
            raise MnistError(
                f"{name}: SHA-256 {found} does not match the published MNIST file ({expected}); "
                "the copy is corrupt or not MNIST. Fetch the original files again."
            )


def source_files(source: Path) -> list[Path]:
    """The four idx files in `source` (each plain or .gz, as `--from` takes them), after
    checking their SHA-256. Raises MnistError when one is missing or is not MNIST."""
    with tempfile.TemporaryDirectory() as tmp:
        _import_raw(Path(source), Path(tmp))
        _verify(Path(tmp))
    return [source / name if (source / name).is_file() else source / f"{name}.gz" for name in SHA256]


def prepare(cache_dir: Path, source: Path | None = None, download: bool = False) -> Path:
    """Make `cache_dir/mnist-tensors.pt` from idx files in `source`, or by downloading.

    Returns the cache file. Raises MnistError with a remedy when nothing can be done.
    """
    from torchvision.datasets import MNIST  # imported here: grading workers never need it

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        root = Path(tmp)
        raw_dir = root / "MNIST" / "raw"
        if source is not None:
            _import_raw(Path(source), raw_dir)
        elif download:
            try:
                MNIST(root, train=True, download=True)
                MNIST(root, train=False, download=True)
            except (OSError, RuntimeError) as e:  # torchvision's "Error downloading ...", no network
                raise MnistError(
                    f"MNIST could not be downloaded ({str(e).splitlines()[0][:200]}). Without a network, "
                    "get the four idx files (train-images-idx3-ubyte.gz and the other three, plain or "
                    "gzipped) and run `autograder data --from DIR`, or set MNIST_DIR=DIR") from None
        else:
            raise MnistError("no MNIST source: pass --from DIR, set MNIST_DIR, or allow a download")
        _verify(raw_dir)
        train, test = MNIST(root, train=True), MNIST(root, train=False)
        tensors = {
            "train_images": train.data.clone(),
            "train_labels": train.targets.clone(),
            "test_images": test.data.clone(),
            "test_labels": test.targets.clone(),
        }
    return save_cache(tensors, cache_dir)


def save_cache(tensors: dict[str, torch.Tensor], cache_dir: Path) -> Path:
    """Write the cache (`tensors`: the four of `prepare`) and the workers' file without the
    test labels into `cache_dir`, each atomically: a half-written cache never exists. Returns
    the cache file. A grading node gets its copy this way (integrations/ray)."""
    import torch

    cache_dir.mkdir(parents=True, exist_ok=True)
    _save_inputs(tensors, cache_dir)
    with tempfile.NamedTemporaryFile(dir=cache_dir, delete=False) as f:
        torch.save(tensors, f)
    os.replace(f.name, cache_dir / CACHE_FILE)
    return cache_dir / CACHE_FILE


def _save_inputs(tensors: dict[str, torch.Tensor], cache_dir: Path) -> Path:
    import torch

    with tempfile.NamedTemporaryFile(dir=cache_dir, delete=False) as f:
        torch.save({k: tensors[k] for k in INPUT_KEYS}, f)
    os.replace(f.name, cache_dir / INPUTS_FILE)
    return cache_dir / INPUTS_FILE


def ensure(cache_dir: Path) -> Path:
    """The cache file, prepared from $MNIST_DIR on first use when that is set."""
    cache = cache_dir / CACHE_FILE
    if cache.is_file():
        if not (cache_dir / INPUTS_FILE).is_file():  # a cache from before the split
            import torch

            _save_inputs(torch.load(cache, weights_only=True), cache_dir)
        return cache
    if os.environ.get("MNIST_DIR"):
        return prepare(cache_dir, source=Path(os.environ["MNIST_DIR"]))
    raise MnistError(
        f"MNIST is not prepared in {cache_dir}. Run `autograder data` (downloads it), "
        "or `autograder data --from DIR` with the four idx files, or set MNIST_DIR."
    )


def load(cache_dir: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Cached tensors on `device`: images uint8 (N, 28, 28), labels int64 (N,)."""
    import torch

    tensors = torch.load(ensure(cache_dir), weights_only=True)
    return {k: v.to(device) for k, v in tensors.items()}


def inputs_file(cache_dir: Path) -> Path:
    """The workers' file (no test labels), prepared when missing."""
    ensure(cache_dir)
    return cache_dir / INPUTS_FILE


def inputs_for(course) -> Path | None:
    """The workers' MNIST file when `course` (a config.Course) trains on MNIST and it is
    prepared; None otherwise (an MNIST check then reports it, the other checks need none)."""
    if not course.trains_on_mnist():
        return None
    try:
        return inputs_file(course.mnist_cache)
    except MnistError:
        return None


def load_inputs(path: Path) -> dict[str, torch.Tensor]:
    """The workers' tensors, as stored (CPU, uint8 images): no computation, so that the
    zygote that loads them can still fork safely."""
    import torch

    tensors = torch.load(path, weights_only=True)
    return {k: tensors[k] for k in INPUT_KEYS}


@functools.lru_cache(maxsize=4)
def load_test_labels(cache_dir: Path) -> torch.Tensor:
    """The test labels, for the grader alone. Cached: the judge server loads them once for
    all the sessions it forks."""
    import torch

    return torch.load(ensure(cache_dir), weights_only=True)["test_labels"]


@dataclass
class Batches:
    """An in-memory MNIST loader: yields (images, labels) batches of the contract's form.

    images float32 (B, 1, 28, 28) in [0, 1], labels int64 (B,), on the tensors' device.
    Iterable more than once (one pass per epoch); reshuffled each pass when `shuffle`.
    The last batch is smaller when the size does not divide evenly.
    """

    images: torch.Tensor  # uint8 (N, 28, 28)
    labels: torch.Tensor
    batch_size: int = 100
    shuffle: bool = False
    generator: torch.Generator | None = None

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        import torch

        images, labels = self.images, self.labels
        if self.shuffle:  # one gather per pass rather than one per batch
            order = torch.randperm(len(labels), generator=self.generator).to(images.device)
            images, labels = images[order], labels[order]
        for start in range(0, len(labels), self.batch_size):
            batch = slice(start, start + self.batch_size)
            yield images[batch].unsqueeze(1).to(torch.float32).div_(255.0), labels[batch].clone()
