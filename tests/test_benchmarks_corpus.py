"""The real-world corpus and its runner, offline: every project loads, the comparison logic holds. No tool runs."""

import importlib.util
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from pypi_simple import PYPI_SIMPLE_ENDPOINT

from satlock.resolver.project import load_project
from satlock.resolver.target import make_target

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
CORPUS = sorted((BENCHMARKS / "corpus").glob("*/pyproject.toml"))


@pytest.fixture(scope="module")
def corpus():
    name = "satlock_benchmarks_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / "corpus.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_the_corpus_holds_at_least_28_projects():
    assert len(CORPUS) >= 28


@pytest.mark.parametrize("pyproject", CORPUS, ids=lambda p: p.parent.name)
def test_every_corpus_project_loads_says_where_it_comes_from_and_has_requirements(pyproject):
    project = load_project(pyproject.parent)
    assert project.name == f"corpus-{pyproject.parent.name}"
    assert project.root_requirements()
    text = pyproject.read_text()
    assert text.startswith("# ") and "# Kind:" in text
    assert urlsplit(PYPI_SIMPLE_ENDPOINT).hostname not in text


def test_the_shapes_that_failed_in_issue_13_are_in_the_corpus():
    names = {}
    for pyproject in CORPUS:
        project = load_project(pyproject.parent)
        for root in project.root_requirements():
            names.setdefault(root.requirement.name.lower(), set()).add(str(root.requirement.specifier))
    assert "==1.6.0" in names["scrapyd"] and "setuptools" in names
    for needed in ("wtforms", "mako", "pyarrow", "langchain", "boto3", "botocore", "diffusers", "torch"):
        assert needed in names or any(n.startswith(needed) for n in names), needed


def test_uv_gets_every_extra_and_one_group_flag_per_group(corpus):
    command = corpus.uv_compile_command(["dev", "docs"])
    assert "--all-extras" in command
    assert command[command.index("--group") + 1] == "dev" and command.count("--group") == 2
    assert command[command.index("--python-version") + 1] == "3.12"


def test_uv_pins_are_read_from_requirements_txt_and_compared_by_canonical_name(corpus, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("Jinja2==3.1.6\n    # via flask\nzope.interface==8.0 ; python_version >= '3.9'\nrequests[socks]==2.34.2\n")
    pins = corpus.uv_pins(req)
    assert pins == {"jinja2": "3.1.6", "zope-interface": "8.0", "requests": "2.34.2"}
    diffs = corpus.differences({"jinja2": "3.1.6", "zope-interface": "7.2", "six": "1.17.0"}, pins)
    assert [d.describe() for d in diffs] == ["requests — vs 2.34.2", "six 1.17.0 vs —", "zope-interface 7.2 vs 8.0"]


def _info(table):
    def info(name, version):
        entry = table[(name, version)]
        if isinstance(entry, Exception):
            raise entry
        requires, requires_python = entry
        return corpus_module().PackageInfo(tuple(Requirement(r) for r in requires),
                                           SpecifierSet(requires_python) if requires_python else None)
    return info


def corpus_module():
    return sys.modules["satlock_benchmarks_corpus"]


ENV = make_target("3.12", "linux").environment


def test_an_answer_meeting_every_applicable_requirement_is_consistent(corpus):
    table = {
        ("flask", "3.1.0"): (["jinja2>=3.1", "asgiref>=3.2; extra == 'async'", "colorama; sys_platform == 'win32'"], ">=3.9"),
        ("jinja2", "3.1.6"): (["markupsafe>=2.0"], None),
        ("markupsafe", "3.0.2"): ([], None),
    }
    check = corpus.consistency([Requirement("flask>=3")], {"flask": "3.1.0", "jinja2": "3.1.6", "markupsafe": "3.0.2"},
                               ENV, _info(table))
    assert check.consistent and not check.unneeded and not check.unchecked


def test_a_broken_bound_a_missing_package_an_extra_asked_for_and_python_are_each_reported(corpus):
    table = {
        ("flask", "3.1.0"): (["jinja2>=3.1", "asgiref>=3.2; extra == 'async'"], ">=3.13"),
        ("jinja2", "3.0.0"): ([], None),
        ("six", "1.17.0"): ([], None),
    }
    check = corpus.consistency([Requirement("flask[async]")], {"flask": "3.1.0", "jinja2": "3.0.0", "six": "1.17.0"},
                               ENV, _info(table))
    assert not check.consistent
    text = "\n".join(check.problems)
    assert "needs jinja2>=3.1; the answer has jinja2 3.0.0" in text
    assert "asgiref is not in the answer" in text
    assert "flask 3.1.0 requires Python >=3.13" in text
    assert check.unneeded == ["six"]


def test_unreadable_metadata_is_unchecked_not_inconsistent(corpus):
    table = {("oldpkg", "0.1"): corpus.Unknown("an sdist without static metadata")}
    check = corpus.consistency([Requirement("oldpkg")], {"oldpkg": "0.1"}, ENV, _info(table))
    assert check.consistent and check.unchecked == ["oldpkg 0.1: an sdist without static metadata"]
    assert check.summary() == "yes (1 unchecked)"


def test_the_table_reports_failures_ratios_and_the_median(corpus):
    ok = corpus.Result("fast", "web", corpus.Attempt(2.0), corpus.Attempt(1.0), corpus.Attempt(1.0), corpus.Attempt(1.0),
                       10, 10, [], corpus.Check(), corpus.Check())
    broken = corpus.Result("broken", "cli", corpus.Attempt(error="error: building setuptools failed"),
                           corpus.Attempt(error="not run (cold failed)"), corpus.Attempt(1.0), corpus.Attempt(0.5),
                           None, 3)
    table = corpus.render([ok, broken], {"satlock": "0.1", "uv": "9.9"}, "test box", 180, "2026-01-01 00:00 UTC")
    assert "| fast | ok / ok | 2.00 | 1.00 | 1.00 | 1.00 | 2.00× | 1.00× | 10 / 10 | 0 | yes / yes |" in table
    assert "| broken | **fails** / ok |" in table
    assert "- **broken** (satlock): error: building setuptools failed" in table
    assert "satlock locked 1 of 2 projects. Median satlock/uv: cold 2.00×" in table


def test_corpus_option_locks_the_projects_of_another_folder_and_rejects_names_not_in_it(corpus, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    options = corpus.parse_args(["--corpus", str(tmp_path)])
    assert options.projects == ("elsewhere",) and options.corpus == tmp_path.resolve()
    with pytest.raises(SystemExit):
        corpus.parse_args(["--corpus", str(tmp_path), "--projects", "celery"])


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_corpus_folder_without_projects_is_refused_before_anything_runs(corpus, tmp_path, folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as info:
        corpus.parse_args(["--corpus", str(tmp_path / folder)])
    assert info.value.code == 2
