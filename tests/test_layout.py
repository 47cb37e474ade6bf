"""The kit's facts live in one place each and agree: checks <-> course.toml, labs <-> folders."""
from __future__ import annotations

import ast

import pytest

from autograder.authoring.release import check_ids
from autograder.course import config
from tests.conftest import ROOT

COURSE = config.load_course()


@pytest.mark.parametrize("lab", COURSE.labs.values(), ids=lambda lab: lab.id)
def test_every_check_has_points_and_every_points_entry_a_check(lab):
    functions = check_ids(ast.parse(COURSE.lab_file("checks", lab.id).read_text()))
    configured = {c.id for c in lab.checks}
    assert functions - configured == set(), f"checks without a course.toml table: {functions - configured}"
    assert configured - functions == set(), f"course.toml tables without a check: {configured - functions}"
    assert all(c.points > 0 for c in lab.checks)
    assert any(c.public for c in lab.checks), "students need at least one public check per lab"


@pytest.mark.parametrize("lab", COURSE.labs.values(), ids=lambda lab: lab.id)
def test_lab_folders_exist(lab):
    assert (ROOT / "solutions" / lab.id / f"{lab.module}.py").is_file()
    assert (ROOT / "assignments" / lab.id / f"{lab.module}.py").is_file()
    readme = ROOT / "assignments" / lab.id / "README.md"
    assert readme.is_file(), f"{readme} is missing"
    text = readme.read_text()
    for check in lab.checks:
        if check.public:
            assert check.id in text, f"{readme} should list the public check {check.id}"


def test_bad_course_file_names_the_fault(tmp_path):
    bad = tmp_path / "course.toml"
    bad.write_text('[labs.x]\nmodule = "m"\n[labs.x.checks.c]\npublic = true\n')
    with pytest.raises(ValueError, match=r"\[labs.x.checks.c\] has no 'points'"):
        config.load_course(bad)


def test_what_student_code_may_import_is_pinned_where_it_runs():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {d.split("==")[0].lower(): d for d in deps if "==" in d}
    for package in config.STUDENT_PACKAGES:
        assert package in pinned, f"{package} (config.STUDENT_PACKAGES) must be pinned in pyproject.toml"


@pytest.mark.parametrize("lab", COURSE.labs.values(), ids=lambda lab: lab.id)
def test_the_api_is_the_solution_files_and_the_stubs_define_it(lab):
    stub = config.api_names((ROOT / "assignments" / lab.id / f"{lab.module}.py").read_text(encoding="utf-8"))
    assert lab.api and stub == lab.api
