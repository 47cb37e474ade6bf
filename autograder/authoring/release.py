"""`autograder release OUT`: the student bundle.

What goes in: the stubs and lab READMEs, the self-check (the grading engine with the
public checks and the probes they use, the reports for `check --html`), `autograder
experiments` (the lecture's claims on the student's own code) and a course.toml that lists
only public checks (and their lecture topics).
What stays out: solutions, hidden checks (their functions are removed from the check
modules) and their probes, hidden thresholds and the instructor commands.
"""
from __future__ import annotations

import ast
import shutil
import tomllib
from pathlib import Path

from autograder.course import config

# The modules the self-check needs; grading a class, releasing and calibrating stay home.
# (checks/ and probes/ are pruned to the public checks below.)
BUNDLE_MODULES = [
    "__init__.py", "__main__.py", "cli.py", "notebook.py",
    "course/__init__.py", "course/config.py", "course/late.py", "course/mnist.py", "course/seeding.py",
    "intake/__init__.py", "intake/collect.py", "intake/encoding.py", "intake/graded.py", "intake/notebooks.py",
    # the self-check's judge sessions, and the workers they talk to
    "engine/__init__.py", "engine/runner.py", "engine/judge_server.py", "engine/plugin.py", "engine/selfcheck.py",
    "boundary/__init__.py", "boundary/forkserver.py", "boundary/remote.py", "boundary/sandbox.py",
    "boundary/linux.py", "boundary/rootfs.py", "boundary/pid1.py",
    "boundary/student.py", "boundary/traps.py", "boundary/wire.py", "boundary/worker.py", "boundary/zygote.py",
    "reports/__init__.py", "reports/model.py", "reports/files.py", "reports/results_json.py",
    "reports/feedback_md.py", "reports/grades_csv.py", "reports/shared_files.py", "reports/escape.py", "reports/pages.py", "reports/plots.py",
    "reports/feedback_html.py", "reports/summary.py", "reports/class_report.py",
    # the test cells of the course's notebooks
    "integrations/__init__.py", "integrations/nbgrader/__init__.py", "integrations/nbgrader/cells.py",
    # `autograder experiments` on the student's own code (its probes: probes/experiments.py, below)
    "experiments/__init__.py", "experiments/lecture.py", "experiments/plan.py",
    "experiments/running.py", "experiments/stats.py", "experiments/findings.py", "experiments/report.py",
    "experiments/reproduce.py",
]
EXPERIMENT_PROBES = "experiments.py"  # the probes `autograder experiments` runs in the worker

STUDENT_README = """# {name}: your lab bundle

Each folder `lab*/` holds one lab: a README with the task and a module to complete.
Replace every `raise NotImplementedError(...)` with your code; keep the names and signatures.

Set up once (Python 3.11):

    python3 -m venv .venv && .venv/bin/pip install -e .
    .venv/bin/autograder data            # downloads MNIST (or: --from DIR with the idx files)

Check yourself before you submit, from this folder:

    .venv/bin/autograder check lab08_1_perceptron

The self-check runs the public checks; more checks are graded after you submit.

See the lecture's claims reproduced with your own functions, with plots (a minute or two
with --quick; your lab folders must be in this folder):

    .venv/bin/autograder experiments lab09_3_dropout --submission . --quick --out experiments

then open experiments/report.html.
"""


def _names(node: ast.AST) -> set[str]:
    """Every name a piece of code refers to (the names it imports included)."""
    found = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    found |= {a.asname or a.name for n in ast.walk(node) if isinstance(n, ast.ImportFrom) for a in n.names}
    return found


def _prune(tree: ast.Module, roots: set[str]) -> ast.Module:
    """Keep the statements that are not definitions, the definitions named in `roots`, and
    every definition those refer to, transitively; drop the rest."""
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    needed = set(roots)
    for node in tree.body:
        if node.__class__ not in (ast.FunctionDef, ast.ClassDef, ast.ImportFrom):
            needed |= _names(node)
    frontier = [n for n in needed if n in defs]
    while frontier:
        for name in _names(defs[frontier.pop()]):
            if name in defs and name not in needed:
                needed.add(name)
                frontier.append(name)
    tree.body = [n for n in tree.body
                 if not (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name not in needed)]
    # Names imported only for what was dropped go too (the roots stay: a check may be imported).
    used = set(roots).union(*(_names(n) for n in tree.body if not isinstance(n, ast.ImportFrom)))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autograder"):
            node.names = [a for a in node.names if (a.asname or a.name) in used]
    tree.body = [n for n in tree.body if not (isinstance(n, ast.ImportFrom) and not n.names)]
    return tree


def check_ids(tree: ast.Module) -> set[str]:
    """The checks a lab's check module holds: its `test_<id>` functions, defined there or
    imported (checks/contract.py); pytest collects both."""
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    return {n.removeprefix("test_") for n in names if n.startswith("test_")}


def strip_hidden_checks(source: str, hidden: set[str]) -> str:
    """The check module without the hidden checks and the helpers only they used."""
    tree = ast.parse(source)
    public = {f"test_{c}" for c in check_ids(tree) - hidden}
    return ast.unparse(_prune(tree, public)) + "\n"


def keep_used_helpers(source: str, users: list[str]) -> str:
    """The shared helper module without what no kept check uses: the grader's reference
    loops for hidden checks stay home."""
    roots = set().union(*(_names(ast.parse(u)) for u in users))
    return ast.unparse(_prune(ast.parse(source), roots)) + "\n"


# The checks' shared modules, each pruned to what the kept checks use; a module may use the
# ones after it.
SHARED_CHECKS = ("contract", "common")


def _shared_checks(users: list[str]) -> dict[str, str]:
    """checks/contract.py and checks/common.py pruned to what `users` (check sources) need."""
    pruned = {}
    for name in SHARED_CHECKS:
        pruned[name] = keep_used_helpers((config.CHECKS_DIR / f"{name}.py").read_text(), users)
        users = users + [pruned[name]]
    return pruned


def probe_names(source: str) -> set[str]:
    """The probes a piece of check code asks for: `probe_<name>` for every student.probe("<name>", ...)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "probe"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(f"probe_{node.args[0].value}")
    return names


def public_course_toml(course: config.Course) -> str:
    """course.toml with the public checks only (their points and parameters)."""
    lines = [f'# Public part of the course settings for the self-check.\n[course]\nname = "{course.name}"',
             f'device = "auto"\nseed = {course.seed}\n']
    for lab in course.labs.values():
        hidden = [c for c in lab.checks if not c.public]
        lines.append(f'[labs.{lab.id}]\ntitle = "{lab.title}"\nmodule = "{lab.module}"\n'
                     f'hidden_checks = {len(hidden)}\nhidden_points = {sum(c.points for c in hidden):g}\n'
                     f'api = {_toml_value(list(lab.api))}\n')
        topics = {c.id: c.topic for c in lab.checks if c.public and c.topic}  # by id: no hidden check's topic
        if topics:
            lines.append(f"[labs.{lab.id}.topics]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in topics.items()] + [""]
        for check in lab.checks:
            if not check.public:
                continue
            lines.append(f"[labs.{lab.id}.checks.{check.id}]")
            lines.append(f"points = {check.points:g}\npublic = true\ntimeout_s = {check.timeout_s:g}")
            for key, value in check.params.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
    text = "\n".join(lines)
    tomllib.loads(text)  # what we write must read back
    return text


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def build_bundle(course: config.Course, out: Path) -> Path:
    """Write the student bundle into the new or empty folder `out`; returns it.
    Raises FileExistsError when `out` holds anything."""
    root = course.root
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder for the bundle")
    out.mkdir(parents=True, exist_ok=True)
    for lab in course.labs.values():
        shutil.copytree(root / "assignments" / lab.id, out / lab.id,
                        ignore=shutil.ignore_patterns("__pycache__"))
    pkg = out / "autograder"
    (pkg / "checks").mkdir(parents=True)
    for name in BUNDLE_MODULES:
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config.PACKAGE_DIR / name, pkg / name)
    for name in ["__init__.py", "pytest.ini"]:
        shutil.copyfile(config.CHECKS_DIR / name, pkg / "checks" / name)
    kept = {}
    for lab in course.labs.values():
        hidden = {c.id for c in lab.checks if not c.public}
        source = strip_hidden_checks(course.lab_file("checks", lab.id).read_text(), hidden)
        (pkg / "checks" / f"{lab.id}.py").write_text(source)
        kept[lab.id] = source
    # The experiments use some of checks/common.py too (judging replies, the false-fail bound).
    experiments = [(config.PACKAGE_DIR / m).read_text() for m in BUNDLE_MODULES if m.startswith("experiments/")]
    helpers = _shared_checks(list(kept.values()) + experiments)
    for name, source in helpers.items():
        (pkg / "checks" / f"{name}.py").write_text(source)
    # The worker's side: only the probes the public checks ask for.
    probes_dir = config.PACKAGE_DIR / "probes"
    (pkg / "probes").mkdir()
    shutil.copyfile(probes_dir / "__init__.py", pkg / "probes" / "__init__.py")
    kept_probes = []
    for lab_id, source in kept.items():
        # The probes this lab's public checks ask for, directly or through the shared checks.
        roots = probe_names(source).union(*(probe_names(s) for s in _shared_checks([source]).values()))
        probes = ast.unparse(_prune(ast.parse(course.lab_file("probes", lab_id).read_text()), roots)) + "\n"
        (pkg / "probes" / f"{lab_id}.py").write_text(probes)
        kept_probes.append(probes)
    experiment_probes = (probes_dir / EXPERIMENT_PROBES).read_text()
    (pkg / "probes" / EXPERIMENT_PROBES).write_text(experiment_probes)
    # probes/common.py: what the kept probes use, and what the kept checks take from it.
    users = kept_probes + [experiment_probes] + list(kept.values()) + list(helpers.values())
    (pkg / "probes" / "common.py").write_text(keep_used_helpers((probes_dir / "common.py").read_text(), users))
    (out / "course.toml").write_text(public_course_toml(course))
    (out / "README.md").write_text(STUDENT_README.format(name=course.name))
    pyproject = (config.KIT_ROOT / "pyproject.toml").read_text()
    (out / "pyproject.toml").write_text(pyproject)
    return out
