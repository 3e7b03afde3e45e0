"""Smoke tests of the benchmark scripts' plumbing: arguments, tables, counting. No tool runs."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    module_name = f"satlock_benchmarks_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return _load("run")


@pytest.fixture(scope="module")
def sat_core():
    return _load("sat_core")


def _meta(run):
    return run.Meta(date="2026-01-01 00:00 UTC", machine="test box", versions={"satlock": "0.1.0", "uv": "9.9"},
                    runs={"small": 3}, timeout=180.0)


def test_defaults_cover_every_tool_and_set_with_few_runs_for_big_sets(run):
    options = run.parse_args([])
    assert options.tools == run.ALL_TOOLS
    assert set(options.sets) == {"small", "medium", "large", "backtrack", "ml"}
    assert options.runs_for("small") == 3 and options.runs_for("medium") == 3
    assert options.runs_for("large") == 1 and options.runs_for("ml") == 1
    assert not options.sync


def test_comma_separated_sets_and_tools_narrow_the_run(run, tmp_path):
    options = run.parse_args(["--sets", "small,medium", "--tools", "uv,pip", "--runs", "2",
                              "--out", str(tmp_path), "--sync"])
    assert options.sets == ("small", "medium")
    assert options.tools == ("uv", "pip")
    assert options.runs_for("large") == 2
    assert options.out == tmp_path and options.sync


@pytest.mark.parametrize("argv", [["--tools", "uv,cargo"], ["--sets", "tiny"], ["--runs", "0"]])
def test_unknown_tool_or_set_or_zero_runs_is_a_usage_error(run, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        run.parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_every_shipped_set_is_a_minimal_pep621_project(run):
    import tomllib

    assert set(run.available_sets()) >= set(run.DEFAULT_SETS)
    for name in run.available_sets():
        data = tomllib.loads((run.SETS_DIR / name / "pyproject.toml").read_text())
        assert set(data) == {"project"}
        assert set(data["project"]) == {"name", "version", "requires-python", "dependencies"}
        assert data["project"]["dependencies"]


def test_lock_table_shows_medians_ratios_and_failed_tools(run):
    rows = [
        run.Row("small", "satlock", cold=[run.Outcome(2.0, 12, 2**20), run.Outcome(1.0, 12), run.Outcome(3.0, 12)],
                warm=[run.Outcome(0.2, 12)] * 3),
        run.Row("small", "uv", cold=[run.Outcome(1.0, 12, 3 * 2**20)], warm=[run.Outcome(0.4, 12)]),
        run.Row("small", "pdm", cold=[run.Outcome(error="[AttributeError]: module 'hishel' has no attribute")]),
    ]
    table = run.render_lock_table(rows, _meta(run))
    assert "- Tools: satlock 0.1.0, uv 9.9" in table
    assert "| small | satlock | 12 | 2.00 | 0.20 | 1.0 MiB | — | — |" in table
    assert "| small | uv | 12 | 1.00 | 0.40 | 3.0 MiB | 2.00× | 0.50× |" in table
    assert "| small | pdm | — | error: [AttributeError]: module 'hishel' has no attribute | — |" in table


def test_sync_table_reports_installed_counts_and_ratios(run):
    rows = [
        run.Row("medium", "satlock", cold=[run.Outcome(4.0, 48)], warm=[run.Outcome(1.0, 48)]),
        run.Row("medium", "uv", cold=[run.Outcome(2.0, 48)], warm=[run.Outcome(0.5, 48)]),
    ]
    table = run.render_sync_table(rows, _meta(run))
    assert "| medium | uv | 48 | 2.00 | 0.50 | 2.00× | 2.00× |" in table


def _logging_tool(run, name: str, log: Path, *, fails: bool = False):
    """A lock tool that writes its name to ``log`` when run (and its output, unless it fails)."""
    script = (f"import pathlib, sys; open({str(log)!r}, 'a').write({name!r} + chr(10)); "
              + ("sys.exit('error: broken')" if fails else "pathlib.Path('out.txt').write_text('x')"))
    return run.LockTool(name, lambda: [sys.executable, "-c", script], "out.txt", lambda workdir, project: 1)


def test_tools_take_turns_within_each_round_and_a_failed_tool_is_not_run_again(run, tmp_path):
    log = tmp_path / "order.log"
    tools = [_logging_tool(run, "one", log), _logging_tool(run, "two", log), _logging_tool(run, "bad", log, fails=True)]
    scratches = run.Scratch()
    try:
        rows = run.measure_lock_interleaved(tools, "small", 2, 60.0, scratches)
    finally:
        scratches.close()
    # Each round: every tool's cold then warm lock, tool after tool; "bad" fails once and stops.
    assert log.read_text().split() == ["one", "one", "two", "two", "bad", "one", "one", "two", "two"]
    assert [len(r.cold) for r in rows] == [2, 2, 1] and [len(r.warm) for r in rows] == [2, 2, 0]
    assert rows[2].error == "error: broken"


def test_sync_tools_take_turns_after_each_made_its_lock_untimed(run, tmp_path, monkeypatch):
    log = tmp_path / "order.log"
    monkeypatch.setitem(run.LOCK_TOOLS, "fake-locker", _logging_tool(run, "lock", log))
    script = "import pathlib, sys; open({log!r}, 'a').write(sys.argv[1] + chr(10)); pathlib.Path('.venv').mkdir()"
    syncs = [run.SyncTool(name, "fake-locker", lambda d, name=name: [sys.executable, "-c", script.format(log=str(log)), name])
             for name in ("first", "second")]
    scratches = run.Scratch()
    try:
        rows = run.measure_sync_interleaved(syncs, "small", 2, 60.0, scratches)
    finally:
        scratches.close()
    assert log.read_text().split() == ["lock", "lock"] + ["first", "first", "second", "second"] * 2
    assert [(len(r.cold), len(r.warm), r.error) for r in rows] == [(2, 2, None), (2, 2, None)]


def test_a_tool_named_twice_in_tools_is_measured_once_with_its_own_row(run, tmp_path, monkeypatch):
    """The rows of one set are matched to their tools by name: a second "uv" in --tools made
    two rows that both showed the second uv's runs (or the first one's failure, and never its runs)."""
    log = tmp_path / "order.log"
    monkeypatch.setitem(run.LOCK_TOOLS, "uv", _logging_tool(run, "uv", log))
    monkeypatch.setitem(run.LOCK_TOOLS, "satlock", _logging_tool(run, "satlock", log))
    monkeypatch.setattr(run, "make_meta", lambda tools, runs, timeout: run.Meta(
        date="d", machine="m", versions={t: "1" for t in tools}, runs=runs, timeout=timeout))
    options = run.parse_args(["--sets", "small", "--tools", "uv,satlock,uv", "--runs", "1", "--out", str(tmp_path)])
    assert options.tools == ("uv", "satlock")
    scratches = run.Scratch()
    try:
        run._measure_all(options, {}, False, scratches)
    finally:
        scratches.close()
    assert log.read_text().split() == ["uv", "uv", "satlock", "satlock"]
    table = (tmp_path / "lock.md").read_text()
    assert table.count("| small | uv |") == 1 and table.count("| small | satlock |") == 1


def test_error_cell_is_the_first_stderr_line_or_the_exception_of_a_traceback(run):
    assert run.first_error_line("\n  error: no solution | at all\nmore\n") == "error: no solution \\| at all"
    traceback = "Traceback (most recent call last):\n  File \"x\", line 1\nModuleNotFoundError: no satlock\n"
    assert run.first_error_line(traceback) == "ModuleNotFoundError: no satlock"
    assert run.first_error_line("", "only stdout") == "only stdout"
    assert len(run.first_error_line("x" * 500)) == 140


def test_packages_are_counted_from_each_tools_output_without_the_project(run, tmp_path):
    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "bench-small"\n[[package]]\nname = "Rich"\n[[package]]\nname = "click"\n')
    (tmp_path / "req.txt").write_text("click==8.1.0\n    # via bench-small\nrequests[socks]==2.0\n")
    (tmp_path / "r.json").write_text(json.dumps({"install": [{"metadata": {"name": "Click"}}]}))
    assert run.LOCK_TOOLS["uv"].count(tmp_path, "bench-small") == 2
    assert run.LOCK_TOOLS["pip-compile"].count(tmp_path, "bench-small") == 2
    assert run.LOCK_TOOLS["pip"].count(tmp_path, "bench-small") == 1


def test_tool_environment_drops_pip_config_and_isolates_caches(run, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///elsewhere")
    monkeypatch.setenv("UV_INDEX_URL", "file:///elsewhere")
    env = run.tool_env(tmp_path)
    assert "PIP_FIND_LINKS" not in env and "PIP_EXTRA_INDEX_URL" not in env and "UV_INDEX_URL" not in env
    assert env["PIP_CONFIG_FILE"] == run.os.devnull and env["UV_NO_CONFIG"] == "1"
    for var in ("SATLOCK_CACHE_DIR", "UV_CACHE_DIR", "PIP_CACHE_DIR", "PDM_CACHE_DIR", "POETRY_CACHE_DIR"):
        assert Path(env[var]).is_relative_to(tmp_path / "cache")


def test_synthetic_index_has_the_asked_size_and_always_a_solution(sat_core):
    for n in (1, 100, 1_001):
        index = sat_core.synthetic_index(n)
        assert sum(len(versions) for versions in index.values()) == n
        assert all(deps == [] for deps in (versions["1.0"] for versions in index.values()))
    assert sat_core.synthetic_index(100) == sat_core.synthetic_index(100)


def test_sat_core_table_puts_clauses_per_candidate_next_to_the_solver_stats(sat_core):
    rows = [sat_core.CoreRow("1,000", 1400, 2000, 10, 0.5, candidates=1000)]
    text = sat_core.render([], rows)
    assert "| 1,000 | 1,400 | 2,000 | 2.0 | 10 | 0.500 |" in text
