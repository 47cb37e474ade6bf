"""Assemble the example class in build/example-class: the reference solutions, the
untouched stubs and a partly correct student (examples/partial_student)."""
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    skip = shutil.ignore_patterns("__pycache__", "README.md")
    shutil.copytree(ROOT / "solutions", out / "reference", ignore=skip)
    shutil.copytree(ROOT / "assignments", out / "untouched_stubs", ignore=skip)
    shutil.copytree(ROOT / "examples" / "partial_student", out / "partial_student", ignore=skip)
    print(f"example class in {out}: reference, untouched_stubs, partial_student")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "example-class")
