"""`autograder nbgrader COURSE_DIR`: an nbgrader course directory made from the kit.

Writes (creating or updating) `COURSE_DIR/nbgrader_config.py` and, for every lab,
`COURSE_DIR/source/<lab>/<lab>.ipynb`, built from solutions/<lab>/<module>.py, the lab
README and course.toml:

- explanation cells: the lab README's introduction, task rules and API;
- a locked, read-only setup cell: the module's imports and constants;
- one solution cell per function or class of the student API, its answer between
  `### BEGIN SOLUTION` / `### END SOLUTION` (nbgrader's generate_assignment strips it),
  the kit's hint as a comment above the block;
- one autograder test cell per check of course.toml (grade: true, the check's points), a
  single call `check(LAB, CHECK)` into autograder.notebook; hidden checks between
  `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`;
- a demo cell (a short training run, a plot when matplotlib is there) that does not run
  while nbgrader executes the notebook (nbgrader sets NBGRADER_EXECUTION then).

The notebooks are deterministic (fixed cell ids, no timestamps): a rerun rewrites only
what changed. The configuration block of nbgrader_config.py sits between two markers and
is rewritten on every run; settings after it are the instructor's and are kept.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.authoring.stubs import BEGIN, END, HINT
from autograder.course import config
from autograder.engine import runner
from autograder.reports.model import counted

BLOCK_START = "# --- autograder: generated block (rewritten by `autograder nbgrader`; edit below it) ---"
BLOCK_END = "# --- autograder: end of the generated block ---"
DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"
# A test cell's stderr costs its points in nbgrader; warnings (PyTorch's UserWarning and
# the like) are removed from test cells' stderr before the grade is taken.
IGNORE_PATTERN = r"\b\w*Warning: "


def course_id_from(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[:40].strip("-") or "course"


def execution_timeout(course: config.Course) -> int:
    """Seconds one cell may run under nbgrader, sized for the MNIST checks: the first test
    cell grades the whole lab, so the slowest lab's startup, its long checks (MNIST
    training) to their limits and two ordinary checks running to theirs, rounded up to a
    minute. (Every check of a lab running to its limit would take far longer; the kit's
    own path, `autograder grade --nbgrader`, has no such cell limit.)"""
    default = float(course.raw.get("course", {}).get("check_timeout_s", 60))
    worst = 0.0
    for lab in course.labs.values():
        long = sum(c.timeout_s for c in lab.checks if c.timeout_s > default)
        t = runner.STARTUP_S + course.import_timeout_s + long + 2 * (default + course.import_timeout_s + runner.GRACE_S)
        worst = max(worst, t)
    return int(-(-worst // 60) * 60)


def config_block(course: config.Course, course_id: str, exchange: str) -> str:
    timeout = execution_timeout(course)
    return f'''{BLOCK_START}
# Course: {course.name}
import os

# The course directory is the folder of this file; nbgrader commands run in it.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = {course_id!r}
# The exchange shared with the students' servers (they need the same root in their config).
c.Exchange.root = {exchange!r}
# Data, model files and caches never travel through the exchange.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "*.pt", "*.pth", "*.npz", "MNIST", "data"]
c.CourseDirectory.max_file_size = 100000  # kB; notebooks with huge outputs still pass

# The student version: solutions become a stub, hidden checks disappear.
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.ClearSolutions.enforce_metadata = True
c.ClearHiddenTests.enforce_metadata = True
c.LockCells.lock_readonly_cells = True
c.LockCells.lock_grade_cells = True

# Autograding. The first test cell of a lab grades every check of the lab in one run of
# the kit's sandboxed engine, so a cell may take as long as the slowest lab's startup,
# MNIST training and two checks running to their limits: {timeout} s. A cell that runs
# longer is stopped and the lab's remaining test cells fail at once; a student cell that
# hangs costs this long. Raise or lower it below the block.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0
# PyTorch warnings on stderr would cost a test cell its points.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = {IGNORE_PATTERN!r}
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
# Test cells a student deleted are put back before autograding.
c.OverwriteCells.add_missing_cells = True
c.Autograde.create_student = True
{BLOCK_END}
'''


def _previous(text: str, key: str) -> str | None:
    m = re.search(rf"^c\.{re.escape(key)} = (['\"])(.*?)\1\s*$", text, re.M)
    return m.group(2) if m else None


def write_config(course: config.Course, course_dir: Path, course_id: str | None, exchange: str | None) -> bool:
    """Create nbgrader_config.py or rewrite its generated block; True when it changed.
    Course id and exchange root keep their earlier values unless given."""
    path = course_dir / "nbgrader_config.py"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = old.find(BLOCK_START), old.find(BLOCK_END)
    block_old = old[start:end] if 0 <= start < end else ""
    course_id = course_id or _previous(block_old, "CourseDirectory.course_id") or course_id_from(course.name)
    exchange = exchange or _previous(block_old, "Exchange.root") or DEFAULT_EXCHANGE
    block = config_block(course, course_id, exchange)
    if 0 <= start < end:
        rest = old[end + len(BLOCK_END):]
        new = old[:start] + block + (rest[1:] if rest.startswith("\n") else rest)
    elif old:  # the instructor's own file: the block goes first, so their settings still win
        new = "c = get_config()  # noqa\n\n" + block + "\n" + old
    else:
        new = ("# nbgrader settings, made by `autograder nbgrader` from the kit's course.toml.\n"
               "c = get_config()  # noqa\n\n" + block +
               "\n# Your own settings go below; they override the generated ones.\n")
    if new == old:
        return False
    path.write_text(new, encoding="utf-8")
    return True


# --- the notebook ----------------------------------------------------------------------------

def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
              points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _move_hints(code: str) -> str:
    """The kit's `# HINT:` line (first in a solution block) goes above the block as a
    comment, so the student version keeps it."""
    lines = code.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == BEGIN and i + 1 < len(lines) and lines[i + 1].strip().startswith(HINT):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# Hint: {lines[i + 1].strip()[len(HINT):].strip()}")
            out.append(line)
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def split_solution(source: str) -> tuple[str, str, list[tuple[str, str, bool]]]:
    """(module docstring, setup code, [(name, code, has a solution block)]) of a solution
    module: what comes before the first definition is setup; each top-level function or
    class, with the comments above it and any statements after it, is one cell."""
    tree = ast.parse(source)
    lines = source.splitlines()
    doc = ast.get_docstring(tree) or ""
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        skip_to = body[0].end_lineno
        body = body[1:]
    else:
        skip_to = 0
    defs = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]

    def start(node) -> int:
        return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])

    # Each definition's cell starts at its first line (decorators included), or at the
    # unindented comment lines right above it; statements after it stay in its cell.
    bounds = []
    for node in defs:
        b = start(node) - 1
        while b > max([skip_to] + bounds) and lines[b - 1].startswith("#"):
            b -= 1
        bounds.append(b)
    bounds.append(len(lines))
    setup_end = bounds[0] if defs else len(lines)
    setup = "\n".join(lines[skip_to:setup_end]).strip("\n")
    chunks = []
    for i, node in enumerate(defs):
        code = "\n".join(lines[bounds[i]:bounds[i + 1]]).strip("\n")
        chunks.append((node.name, _move_hints(code), BEGIN in code and END in code))
    return doc, setup, chunks


def _readme_parts(text: str) -> tuple[str, str, str]:
    """(introduction, the task's rules, the API section) of a lab README."""
    sections = re.split(r"^## ", text, flags=re.M)
    intro = sections[0].split("\n", 1)[1].strip() if "\n" in sections[0] else ""
    named = {s.split("\n", 1)[0].strip(): s.split("\n", 1)[1].strip() if "\n" in s else "" for s in sections[1:]}
    task = named.get("Your task", "")
    rules = task.split("\n\n", 1)[1].strip() if "\n\n" in task else ""  # the first paragraph is the .py workflow
    return intro, rules, named.get("API", "")


# The first lines of the MNIST labs' demos: the course's MNIST, as the grader's loader serves it.
MNIST_SETUP = '''\
    from autograder.course import config, mnist
    data = mnist.load(config.load_course().mnist_cache)  # prepared once with `autograder data`
    train = mnist.Batches(data["train_images"], data["train_labels"], batch_size=100, shuffle=True)
    test = mnist.Batches(data["test_images"], data["test_labels"], batch_size=1000)
'''

DEMOS = {
    "lab08_1_perceptron": '''\
def demo():
    for gate in ("and", "or", "xor"):
        X, Y = logic_gate_data(gate)
        torch.manual_seed(0)
        model = Perceptron()
        losses = train_perceptron(model, X, Y, steps=1000, lr=1.0)
        print(f"{gate:>4}: final loss {losses[-1]:.3f}, accuracy {accuracy(model, X, Y):.2f}")
        if plt:
            plt.plot(losses, label=gate)
    if plt:
        plt.xlabel("step"); plt.ylabel("BCE loss"); plt.legend(); plt.show()''',
    "lab08_2_xor_mlp": '''\
def demo():
    X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)
    torch.manual_seed(0)
    model = build_xor_mlp(hidden=2, num_layers=2)
    losses = train_xor(model, X, Y, steps=5000, lr=1.0)
    print(f"final loss {losses[-1]:.4f}, accuracy {accuracy(model, X, Y):.2f}, predictions {predict(model, X).flatten().tolist()}")
    if plt:
        plt.plot(losses); plt.xlabel("step"); plt.ylabel("BCE loss"); plt.yscale("log"); plt.show()''',
    "lab09_1_relu": '''\
def demo():
''' + MNIST_SETUP + '''    torch.manual_seed(0)
    for activation in ("relu", "sigmoid"):
        model = build_mlp(activation=activation)
        optimizer = make_optimizer("adam", model.parameters(), 1e-3)
        loss = train_epoch(model, train, optimizer, nn.CrossEntropyLoss(), "cpu")
        print(f"{activation:>8}: one epoch, mean loss {loss:.3f}, test accuracy {evaluate(model, test, 'cpu'):.4f}")''',
    "lab09_2_xavier": '''\
def demo():
    w = torch.empty(256, 784)
    for name, init in (("xavier_uniform", xavier_uniform_), ("xavier_normal", xavier_normal_),
                       ("he_uniform", he_uniform_), ("he_normal", he_normal_)):
        init(w)
        print(f"{name:>15}: std {w.std().item():.4f}")
        if plt:
            plt.hist(w.flatten().numpy(), bins=100, histtype="step", label=name)
    if plt:
        plt.legend(); plt.show()''',
    "lab09_3_dropout": '''\
def demo():
''' + MNIST_SETUP + '''    torch.manual_seed(0)
    model = build_dropout_mlp(p=0.2, hidden=256, num_hidden_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = train_epoch(model, train, optimizer, nn.CrossEntropyLoss(), "cpu")
    print(f"one epoch: mean loss {loss:.3f}, test accuracy {evaluate(model, test, 'cpu'):.4f}")''',
    "lab09_4_batchnorm": '''\
def demo():
''' + MNIST_SETUP + '''    for use_bn in (False, True):
        torch.manual_seed(0)
        model = build_bn_mlp(hidden=32, use_batchnorm=use_bn)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        loss = train_epoch(model, train, optimizer, nn.CrossEntropyLoss(), "cpu")
        print(f"batch norm {use_bn!s:>5}: one epoch, mean loss {loss:.3f}, "
              f"test accuracy {evaluate(model, test, 'cpu'):.4f}")''',
}

DEMO_GUARD = '''
import os
try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

# nbgrader sets NBGRADER_EXECUTION while it validates or autogrades: the demo is skipped then.
if os.environ.get("NBGRADER_EXECUTION"):
    print("demo skipped while nbgrader runs the notebook")
else:
    demo()
'''

# After the demo, the demo cell points at the lecture's experiments on the student's own code
# (`autograder experiments`, docs/experiments.md): inside DEMO_GUARD's else branch.
EXPERIMENTS_HINT = """\
    print("The lecture's claims, reproduced with your own functions (a minute or two): in a terminal, in the "
          "folder that holds your lab folders, run  autograder experiments {lab} --submission . --quick --out "
          "experiments  and open experiments/report.html")
"""


def build_notebook(course: config.Course, lab_id: str) -> nbformat.NotebookNode:
    """The nbgrader notebook of one lab, from the course's solution, lab README and course.toml."""
    root = course.root
    lab = course.lab(lab_id)
    solution = (root / "solutions" / lab_id / f"{lab.module}.py").read_text(encoding="utf-8")
    readme_path = root / "assignments" / lab_id / "README.md"
    intro, rules, api = _readme_parts(readme_path.read_text(encoding="utf-8")) if readme_path.exists() else ("", "", "")
    doc, setup, chunks = split_solution(solution)
    hidden = [c for c in lab.checks if not c.public]
    cells = []

    def md(cell_id: str, text: str) -> None:
        cell = new_markdown_cell(text.strip() + "\n")
        cell.id = cell_id
        cells.append(cell)

    md("title", f"# {lab.title}\n\n{intro or doc}")
    task = (
        "## Your task\n\n"
        "Write your code in the solution cells below: replace each `raise NotImplementedError()` "
        "(the `# Hint:` comment above it says where to start) and keep the names and signatures. "
        "The first code cell is read-only setup; run it first. You can add cells of your own: only "
        "their imports, functions, classes and constants count for grading.\n\n"
        "At the end, each **check** cell grades one part of your work with the course's autograder "
        "(the first one you run grades the whole lab; the others reuse that result). The checks "
        "read the notebook *as saved*: save it (Ctrl+S) after a change, then run the checks again. "
        f"There are {len(lab.checks) - len(hidden)} checks here"
        + (f", plus {counted(len(hidden), 'hidden check')} worth {sum(c.points for c in hidden):g} points that "
           "run when your work is graded" if hidden else "")
        + f"; {lab.max_points:g} points in all."
    )
    if rules:
        task += "\n\n" + rules
    md("task", task)
    if api:
        md("api", "## API\n\n" + api)

    code = new_code_cell(setup.strip() + "\n", metadata=_nbgrader("setup", locked=True))
    code.id = "setup"
    cells.append(code)

    for name, chunk, has_solution in chunks:
        cell_id = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        if has_solution:
            code = new_code_cell(chunk + "\n", metadata=_nbgrader(cell_id, solution=True))
        else:  # given code: read-only like the setup
            cell_id = f"given_{cell_id}"
            code = new_code_cell(chunk + "\n", metadata=_nbgrader(cell_id, locked=True))
        code.id = cell_id
        cells.append(code)

    if lab_id in DEMOS:
        md("demo-title", "## Try it\n\nA short run with your functions (not graded; it does not run "
                         "while your work is being graded).\n\nThe lecture's experiments, with its claims and numbers "
                         "checked on your own functions and plotted, run from a terminal in the folder that holds "
                         f"your lab folders (a minute or two):\n\n    autograder experiments {lab_id} "
                         "--submission . --quick --out experiments\n\nthen open `experiments/report.html`.")
        code = new_code_cell(DEMOS[lab_id] + "\n" + DEMO_GUARD + EXPERIMENTS_HINT.format(lab=lab_id),
                             metadata={"autograder": {"role": "demo"}, "tags": ["demo"]})
        code.id = "demo"
        cells.append(code)

    md("checks-title", "## Checks\n\nEach cell below is one check of the course's autograder, with its "
                       "points. A failing check says what was expected and what was found.")
    hidden_n = 0
    for check in lab.checks:
        call = f"check({lab_id!r}, {check.id!r})".replace("'", '"')
        if check.public:
            grade_id = f"test_{check.id}"
            source = f"from autograder.notebook import check\n{call}\n"
        else:
            hidden_n += 1
            grade_id = f"hidden_{hidden_n}"
            source = (f"# Hidden check ({check.points:g} point{'' if check.points == 1 else 's'}): it runs when your work is graded.\n"
                      "from autograder.notebook import check\n"
                      f"### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS\n")
        code = new_code_cell(source, metadata=_nbgrader(grade_id, grade=True, locked=True, points=check.points))
        code.id = grade_id
        cells.append(code)

    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "autograder": {"lab": lab_id, "module": lab.module},
    })
    nbformat.validate(nb)
    return nb


def write_course(course: config.Course, course_dir: Path, *, course_id: str | None = None,
                 exchange: str | None = None, labs: list[str] | None = None) -> list[Path]:
    """Create or update the course directory; return the files written."""
    course_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if write_config(course, course_dir, course_id, exchange):
        written.append(course_dir / "nbgrader_config.py")
    for lab_id in labs or list(course.labs):
        path = course_dir / "source" / lab_id / f"{lab_id}.ipynb"
        text = nbformat.writes(build_notebook(course, lab_id)) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
