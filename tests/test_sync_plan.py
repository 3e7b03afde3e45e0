import subprocess
import time
from pathlib import Path

import pytest
from packaging.markers import Marker, default_environment
from packaging.pylock import Package, PackageSdist, PackageVcs, PackageWheel, Pylock
from packaging.specifiers import SpecifierSet
from packaging.tags import sys_tags
from packaging.version import Version

from indexbuilder import make_wheel, sha256_of
from installcheck import verify_records
from satlock.buildenv import sync as sync_mod
from satlock.buildenv.installed import InstalledDist, installed_distributions
from satlock.buildenv.sync import execute_sync
from satlock.buildenv.venv import marker_environment
from satlock.buildenv.syncplan import plan_sync
from satlock.buildenv.venv import create_venv
from satlock.errors import BuildError, HashMismatchError, InstallError, LockError

ENV = default_environment()
TAGS = list(sys_tags())


def wheel_pkg(wheel: Path, marker: str | None = None) -> Package:
    name, version = wheel.name.split("-")[:2]
    return Package(name=name.replace("_", "-"), version=Version(version), marker=Marker(marker) if marker else None,
                   wheels=[PackageWheel(path=str(wheel), hashes={"sha256": sha256_of(wheel)})])


def sdist_pkg(name: str, version: str) -> Package:
    return Package(name=name, version=Version(version),
                   sdist=PackageSdist(path=f"{name}-{version}.tar.gz", hashes={"sha256": "0" * 64}))


def make_lock(*packages: Package, **kw) -> Pylock:
    lock = Pylock(lock_version=Version("1.0"), created_by="satlock", packages=list(packages), **kw)
    lock.validate()
    return lock


def dist(name: str, version: str, installer: str | None = "satlock", direct_url: dict | None = None) -> InstalledDist:
    return InstalledDist(name=name, version=version, path=Path(f"/venv/{name}-{version}.dist-info"), installer=installer,
                         direct_url=direct_url, requested=False)


def fetch_checked(package: Package, wheel: PackageWheel) -> Path:
    """Like the index client: hand out the wheel only if it matches the locked hash."""
    path = Path(wheel.path)
    if sha256_of(path) != wheel.hashes["sha256"]:
        raise HashMismatchError(f"{path.name} does not match the hash in pylock.toml")
    return path


@pytest.fixture
def wheels(tmp_path):
    out = tmp_path / "wheels"
    return {key: make_wheel(out, name, version) for key, (name, version) in {
        "a1": ("alpha", "1.0"), "a2": ("alpha", "2.0"), "b1": ("beta", "1.0"), "cli1": ("clikit", "1.0"),
    }.items()}


# The plan alone: no environment needed.

def test_everything_selected_is_installed_into_an_empty_environment(wheels):
    plan = plan_sync(make_lock(wheel_pkg(wheels["a1"]), wheel_pkg(wheels["b1"])), {}, ENV, TAGS)
    assert [i.name for i in plan.to_install] == ["alpha", "beta"]
    assert not plan.to_replace and not plan.to_remove and not plan.is_empty


def test_extra_packages_are_selected_only_with_their_extra(wheels):
    lock = make_lock(wheel_pkg(wheels["a1"]), wheel_pkg(wheels["cli1"], "'cli' in extras"), extras=["cli"])
    assert [i.name for i in plan_sync(lock, {}, ENV, TAGS).to_install] == ["alpha"]
    assert [i.name for i in plan_sync(lock, {}, ENV, TAGS, extras=["CLI"]).to_install] == ["alpha", "clikit"]


def test_dependency_groups_default_to_the_locks_default_groups(wheels):
    lock = make_lock(wheel_pkg(wheels["a1"], "'dev' in dependency_groups"), wheel_pkg(wheels["b1"], "'docs' in dependency_groups"),
                     dependency_groups=["dev", "docs"], default_groups=["dev"])
    assert [i.name for i in plan_sync(lock, {}, ENV, TAGS).to_install] == ["alpha"]
    assert [i.name for i in plan_sync(lock, {}, ENV, TAGS, groups=["docs"]).to_install] == ["beta"]
    assert plan_sync(lock, {}, ENV, TAGS, groups=[]).to_install == []


def test_unselected_packages_are_removed_only_if_satlock_installed_them(wheels):
    installed = {"alpha": dist("alpha", "1.0"), "clikit": dist("clikit", "1.0"), "by-pip": dist("by-pip", "1.0", "pip"),
                 "setuptools": dist("setuptools", "70.0"), "unknown": dist("unknown", "1.0", None),
                 "satlock": dist("satlock", "0.1")}
    plan = plan_sync(make_lock(wheel_pkg(wheels["a1"])), installed, ENV, TAGS)
    # satlock itself stays (it may be the one syncing); a setuptools it installed goes like any other.
    assert [d.name for d in plan.to_remove] == ["clikit", "setuptools"]
    assert plan.unchanged == ["alpha"]


def test_version_change_either_way_replaces(wheels):
    up = plan_sync(make_lock(wheel_pkg(wheels["a2"])), {"alpha": dist("alpha", "1.0")}, ENV, TAGS)
    down = plan_sync(make_lock(wheel_pkg(wheels["a1"])), {"alpha": dist("alpha", "2.0")}, ENV, TAGS)
    assert [i.name for i in up.to_replace] == ["alpha"] == [i.name for i in down.to_replace]


def test_a_package_installed_by_another_tool_at_the_locked_version_is_left_alone(wheels):
    plan = plan_sync(make_lock(wheel_pkg(wheels["a1"])), {"alpha": dist("alpha", "1.0", "pip")}, ENV, TAGS)
    assert plan.is_empty and plan.unchanged == ["alpha"]


def test_reinstall_replaces_everything_selected(wheels):
    plan = plan_sync(make_lock(wheel_pkg(wheels["a1"])), {"alpha": dist("alpha", "1.0")}, ENV, TAGS, reinstall=True)
    assert [i.name for i in plan.to_replace] == ["alpha"]


def test_a_changed_source_replaces_even_at_the_same_version():
    vcs = Package(name="tool", version=Version("1.0"),
                  vcs=PackageVcs(type="git", url="https://example.invalid/tool.git", commit_id="b" * 40))
    same = {"url": "https://example.invalid/tool.git", "vcs_info": {"vcs": "git", "commit_id": "b" * 40}}
    old = {"url": "https://example.invalid/tool.git", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}
    lock = make_lock(vcs)
    assert plan_sync(lock, {"tool": dist("tool", "1.0", direct_url=same)}, ENV, TAGS).is_empty
    assert [i.name for i in plan_sync(lock, {"tool": dist("tool", "1.0", direct_url=old)}, ENV, TAGS).to_replace] == ["tool"]
    assert [i.name for i in plan_sync(lock, {"tool": dist("tool", "1.0")}, ENV, TAGS).to_replace] == ["tool"]
    assert plan_sync(lock, {}, ENV, TAGS).to_install[0].direct_url == same


def test_a_lock_for_another_python_is_a_lock_error_naming_both(wheels):
    lock = make_lock(wheel_pkg(wheels["a1"]), requires_python=SpecifierSet("<3"))
    with pytest.raises(LockError, match=rf"requires Python <3; .* is Python {ENV['python_full_version']} on "):
        plan_sync(lock, {}, ENV, TAGS)


def test_a_lock_for_other_environments_is_a_lock_error_naming_them(wheels):
    lock = make_lock(wheel_pkg(wheels["a1"]), environments=[Marker('sys_platform == "nosuch"'), Marker('python_version < "3"')])
    with pytest.raises(LockError, match=r'locked for sys_platform == "nosuch" or python_version < "3"; '):
        plan_sync(lock, {}, ENV, TAGS)


# Carrying the plan out in a real environment.

@pytest.fixture
def venv(tmp_path):
    return create_venv(tmp_path / ".venv")


def sync(lock, venv, fetch=fetch_checked, build=None, build_needs=None, **kw):
    env, tags = marker_environment(venv)
    plan = plan_sync(lock, installed_distributions(venv), env, tags, **kw)
    return plan, execute_sync(plan, venv, fetch, build, build_needs or {})


def imports(venv, module: str) -> str:
    result = subprocess.run([str(venv.python), "-c", f"import {module}; print({module}.__version__)"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def test_marker_environment_comes_from_the_venv_interpreter(venv):
    env, tags = marker_environment(venv)
    assert env["python_full_version"] == venv.python_version
    assert tags and str(tags[-1]) == "py30-none-any"


def test_fresh_sync_installs_importable_packages_marked_as_satlocks(wheels, venv):
    env, tags = marker_environment(venv)
    plan = plan_sync(make_lock(wheel_pkg(wheels["a1"]), wheel_pkg(wheels["b1"])), {}, env, tags)
    events = []
    report = execute_sync(plan, venv, fetch_checked, None, {}, progress=lambda e, n: events.append((e, n)))
    assert [e for e in events if e[1] == "alpha"] == [("fetch", "alpha"), ("fetched", "alpha"), ("install", "alpha"),
                                                      ("installed", "alpha")]
    assert report.changed and sorted(report.installed) == ["alpha", "beta"]
    assert imports(venv, "alpha") == "1.0" and imports(venv, "beta") == "1.0"
    assert {d.installer for d in installed_distributions(venv).values()} == {"satlock"}


def test_second_sync_is_a_no_op_that_fetches_nothing(wheels, venv):
    lock = make_lock(wheel_pkg(wheels["a1"]))
    sync(lock, venv)
    fetched = []
    plan, report = sync(lock, venv, fetch=lambda p, w: fetched.append(p.name))
    assert plan.is_empty and not report.changed and fetched == []


def test_dropping_an_extra_removes_its_packages_on_the_next_sync(wheels, venv):
    lock = make_lock(wheel_pkg(wheels["a1"]), wheel_pkg(wheels["cli1"], "'cli' in extras"), extras=["cli"])
    sync(lock, venv, extras=["cli"])
    assert imports(venv, "clikit") == "1.0"
    _, report = sync(lock, venv)
    assert report.removed == ["clikit"]
    assert imports(venv, "clikit") == "" and imports(venv, "alpha") == "1.0"
    assert verify_records(venv) == []


def test_upgrade_and_downgrade(wheels, venv):
    sync(make_lock(wheel_pkg(wheels["a1"])), venv)
    _, report = sync(make_lock(wheel_pkg(wheels["a2"])), venv)
    assert report.replaced == ["alpha"] and imports(venv, "alpha") == "2.0"
    sync(make_lock(wheel_pkg(wheels["a1"])), venv)
    assert imports(venv, "alpha") == "1.0"
    assert [p.name for p in venv.purelib.glob("alpha-*.dist-info")] == ["alpha-1.0.dist-info"]


def test_tampered_wheel_is_refused_and_the_environment_is_unchanged(wheels, venv, tmp_path):
    sync(make_lock(wheel_pkg(wheels["a1"]), wheel_pkg(wheels["cli1"])), venv)
    before = sorted(p.name for p in venv.purelib.iterdir())
    lock = make_lock(wheel_pkg(wheels["a2"]), wheel_pkg(wheels["b1"]))
    wheels["b1"].write_bytes(wheels["b1"].read_bytes() + b"\0")
    with pytest.raises(HashMismatchError):
        sync(lock, venv)
    assert sorted(p.name for p in venv.purelib.iterdir()) == before
    assert imports(venv, "alpha") == "1.0" and imports(venv, "clikit") == "1.0"


def test_source_packages_are_built_after_their_build_needs_are_installed(wheels, venv, tmp_path):
    order = []

    def build(package, source, venv_):
        present = set(installed_distributions(venv_))
        order.append((package.name, present))
        return make_wheel(tmp_path / "built", package.name, str(package.version))

    lock = make_lock(sdist_pkg("plugin", "1.0"), sdist_pkg("hostlib", "2.0"), sdist_pkg("loner", "1.0"),
                     wheel_pkg(wheels["a1"]))
    _, report = sync(lock, venv, build=build, build_needs={"plugin": ["hostlib", "alpha"], "hostlib": ["alpha"]})
    names = [n for n, _ in order]
    assert names.index("hostlib") < names.index("plugin")
    assert {"hostlib", "alpha"} <= dict(order)["plugin"]
    assert "alpha" in dict(order)["hostlib"]
    assert sorted(report.installed) == ["alpha", "hostlib", "loner", "plugin"]
    assert imports(venv, "plugin") == "1.0"


def test_a_cycle_of_build_needs_is_a_lock_error_before_anything_changes(venv):
    lock = make_lock(sdist_pkg("one", "1.0"), sdist_pkg("two", "1.0"))
    with pytest.raises(LockError, match="cycle"):
        sync(lock, venv, build=lambda *a: pytest.fail("built"), build_needs={"one": ["two"], "two": ["one"]})
    assert installed_distributions(venv) == {}


def test_a_build_need_the_lock_does_not_install_is_a_lock_error(venv):
    with pytest.raises(LockError, match="needs cython"):
        sync(make_lock(sdist_pkg("one", "1.0")), venv, build=lambda *a: pytest.fail("built"), build_needs={"one": ["cython"]})


def test_without_a_builder_source_packages_are_refused_with_a_clear_error(venv):
    with pytest.raises(BuildError, match="building from source is disabled.*one"):
        sync(make_lock(sdist_pkg("one", "1.0")), venv)


def test_a_build_that_gives_another_version_is_refused(venv, tmp_path):
    with pytest.raises(BuildError, match="gave version 9.0"):
        sync(make_lock(sdist_pkg("one", "1.0")), venv, build=lambda p, s, v: make_wheel(tmp_path / "b", "one", "9.0"))
    assert installed_distributions(venv) == {}


def test_a_lock_with_an_empty_environments_list_is_refused_saying_so(wheels):
    """No environment satisfies an empty list; the error says why instead of packaging's "provided environment" line."""
    lock = make_lock(wheel_pkg(wheels["a1"]), environments=[])
    with pytest.raises(LockError, match=r"pylock.toml lists no environments \(environments = \[\]\); this environment's interpreter is Python "):
        plan_sync(lock, {}, ENV, TAGS)


def _many(tmp_path: Path, count: int) -> list[Path]:
    return [make_wheel(tmp_path / "many", f"pkg{n}", "1.0", files={f"pkg{n}/__init__.py": "__version__ = '1.0'\n",
                                                                  **{f"pkg{n}/sub{i}/mod.py": "" for i in range(5)}})
            for n in range(count)]


def test_wheels_staged_out_of_order_are_installed_in_the_lock_order(tmp_path, venv, monkeypatch):
    wheels = _many(tmp_path, 6)
    real = sync_mod.stage_install

    def slow_first(wheel, *args, **kwargs):
        if wheel.name.startswith("pkg0-"):
            time.sleep(0.3)  # the other wheels are staged meanwhile, on other threads
        return real(wheel, *args, **kwargs)

    monkeypatch.setattr(sync_mod, "stage_install", slow_first)
    env, tags = marker_environment(venv)
    plan = plan_sync(make_lock(*map(wheel_pkg, wheels)), {}, env, tags)
    events = []
    report = execute_sync(plan, venv, fetch_checked, None, {}, progress=lambda e, n: events.append((e, n)))
    installs = [e for e in events if e[0] in ("install", "installed")]
    assert installs == [(e, f"pkg{n}") for n in range(6) for e in ("install", "installed")]
    assert report.installed == [f"pkg{n}" for n in range(6)]
    assert all(imports(venv, f"pkg{n}") == "1.0" for n in range(6))
    assert verify_records(venv) == []


def test_a_wheel_that_cannot_be_staged_stops_the_sync_and_leaves_no_staging_folder(tmp_path, venv, monkeypatch):
    wheels = _many(tmp_path, 6)
    real = sync_mod.stage_install

    def disk_full_at_pkg3(wheel, *args, **kwargs):
        if wheel.name.startswith("pkg3-"):
            raise InstallError(f"installing {wheel.name}: no space left on device")
        return real(wheel, *args, **kwargs)

    monkeypatch.setattr(sync_mod, "stage_install", disk_full_at_pkg3)
    env, tags = marker_environment(venv)
    plan = plan_sync(make_lock(*map(wheel_pkg, wheels)), {}, env, tags)
    with pytest.raises(InstallError, match="pkg3-1.0"):
        execute_sync(plan, venv, fetch_checked, None, {})
    # Those before it in the lock's order are installed whole; it and those after are not.
    assert sorted(installed_distributions(venv)) == ["pkg0", "pkg1", "pkg2"]
    assert verify_records(venv) == []
    assert not [p for p in venv.root.iterdir() if p.name.startswith(".satlock-stage")]
    monkeypatch.undo()
    env, tags = marker_environment(venv)
    execute_sync(plan_sync(make_lock(*map(wheel_pkg, wheels)), installed_distributions(venv), env, tags),
                 venv, fetch_checked, None, {})
    assert sorted(installed_distributions(venv)) == [f"pkg{n}" for n in range(6)]


def _nvidia(tmp_path: Path, name: str, version: str = "1.0") -> Path:
    # Every CUDA 12 nvidia-* wheel ships the same empty nvidia/__init__.py.
    return make_wheel(tmp_path / "nvidia", name, version, files={"nvidia/__init__.py": "",
                                                                 f"nvidia/{name.split('-')[1]}/lib.py": f"v = {version!r}\n"})


@pytest.mark.parametrize("change", ["remove", "upgrade"])
def test_a_file_two_packages_share_stays_when_one_of_them_is_removed_or_replaced(tmp_path, venv, change):
    x1, y = _nvidia(tmp_path, "nvidia-x"), _nvidia(tmp_path, "nvidia-y")
    sync(make_lock(wheel_pkg(x1), wheel_pkg(y)), venv)
    after = [wheel_pkg(y)] if change == "remove" else [wheel_pkg(_nvidia(tmp_path, "nvidia-x", "2.0")), wheel_pkg(y)]
    sync(make_lock(*after), venv)
    assert (venv.purelib / "nvidia" / "__init__.py").is_file()
    assert verify_records(venv) == []
    assert (venv.purelib / "nvidia" / "x").exists() == (change == "upgrade")


def test_staging_runs_a_few_wheels_ahead_of_the_installs_not_the_whole_sync(tmp_path, venv, monkeypatch):
    # Where the cache's files are copied, not linked, each staged wheel is its full size on
    # disk: an upgrade must not hold every new version beside every old one.
    wheels = _many(tmp_path, 10)
    real = sync_mod.stage_install
    counts = {"staged": 0, "installed": 0, "ahead": 0}

    def counting(wheel, *args, **kwargs):
        if wheel.name.startswith("pkg0-"):
            time.sleep(0.3)
        staged = real(wheel, *args, **kwargs)
        counts["staged"] += 1
        counts["ahead"] = max(counts["ahead"], counts["staged"] - counts["installed"])
        return staged

    def progress(event, name):
        counts["installed"] += event == "installed"

    monkeypatch.setattr(sync_mod, "stage_install", counting)
    env, tags = marker_environment(venv)
    plan = plan_sync(make_lock(*map(wheel_pkg, wheels)), {}, env, tags)
    execute_sync(plan, venv, fetch_checked, None, {}, progress=progress)
    assert counts["installed"] == 10 and counts["ahead"] <= sync_mod._STAGED_AHEAD
