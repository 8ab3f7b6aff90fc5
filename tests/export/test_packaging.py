"""pyproject.toml: the package, its console command and extras agree with the pinned requirements.

CI (.ci/run) also builds the wheel, installs it in a fresh environment outside the checkout and
runs `glaucoma --help`, `glaucoma demo-data` and a short `glaucoma cv` from there.
"""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement

from glaucoma_core.paths import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (PROJECT_ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            requirement = Requirement(line)
            pins[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    return pins


def _ranges(requirements: list[str]) -> dict[str, Requirement]:
    return {Requirement(r).name.lower(): Requirement(r) for r in requirements}


def test_runtime_dependencies_are_ranges_holding_the_pins():
    ranges = _ranges(PYPROJECT["project"]["dependencies"])
    pins = _pins("requirements.txt")
    assert not set(pins) - set(ranges), f"requirements.txt pins {sorted(set(pins) - set(ranges))}: add a range to " \
                                        "[project] dependencies in pyproject.toml"
    assert not set(ranges) - set(pins), f"pyproject.toml depends on {sorted(set(ranges) - set(pins))}: pin it"
    for name, version in pins.items():
        assert not str(ranges[name].specifier).startswith("=="), f"{name}: a range, not a pin"
        assert ranges[name].specifier.contains(version), f"{name} {version} outside {ranges[name].specifier}"


def test_extras_hold_their_requirement_files():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) >= {"ray", "mlflow", "test"}
    for extra, name in (("ray", "requirements-ray.txt"), ("mlflow", "requirements-mlflow.txt")):
        ranges, pins = _ranges(extras[extra]), _pins(name)
        assert set(ranges) == set(pins), extra
        for package, version in pins.items():
            assert ranges[package].specifier.contains(version), f"{extra}: {package} {version}"
    test_file = (PROJECT_ROOT / "requirements-test.txt").read_text()
    assert "-r requirements-mlflow.txt" in test_file


def test_console_command_and_packaged_modules():
    import importlib

    target = PYPROJECT["project"]["scripts"]["glaucoma"]
    module, _, function = target.partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["py-modules"] == ["streamlit_app"]
    assert set(setuptools["packages"]["find"]["include"]) == {"glaucoma_core*", "app_pages*"}


def test_default_home_of_a_checkout_is_models():
    from glaucoma_core import paths

    assert paths.DEFAULT_HOME == PROJECT_ROOT / "models"
