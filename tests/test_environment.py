"""environment.yml (conda) must name the same packages, with the same lower bounds, as
pyproject.toml (pip), and install the package itself with its [dev] extra."""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONDA_ONLY = {"python", "pip"}
SPEC = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*
        (?:\[(?P<extras>[^\]]*)\])?\s*
        (?:>=\s*(?P<lower>[^,;\s]+))?""",
    re.VERBOSE,
)


def normalise(name: str) -> str:
    """PEP 503 style: case and runs of ``-``, ``_`` and ``.`` folded."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(spec: str) -> tuple[str, str | None]:
    """``"uvicorn[standard]>=0.30"`` -> ``("uvicorn", "0.30")``: extras dropped."""
    match = SPEC.match(spec)
    assert match, f"cannot parse requirement {spec!r}"
    return normalise(match["name"]), match["lower"]


def parse_yaml(text: str) -> object:
    """The small YAML subset environment files use: nested block mappings and sequences of
    plain scalars, ``key: value`` pairs and ``- key:`` items; ``#`` comments."""
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.strip():
            lines.append((len(line) - len(line.lstrip(" ")), line.strip()))
    value, end = _block(lines, 0, lines[0][0] if lines else 0)
    assert end == len(lines), f"unparsed YAML from line {lines[end]!r}"
    return value


def _block(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[object, int]:
    if lines[start][1].startswith("- ") or lines[start][1] == "-":
        items: list[object] = []
        i = start
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
            item = lines[i][1][1:].strip()
            key, sep, rest = item.partition(":")
            if sep and not rest.strip() and " " not in key:  # "- pip:" opens a mapping
                assert i + 1 < len(lines), f"nothing under {item!r}"
                child, i = _block(lines, i + 1, lines[i + 1][0])
                items.append({key: child})
            else:
                items.append(_scalar(item))
                i += 1
        return items, i
    mapping: dict[str, object] = {}
    i = start
    while i < len(lines) and lines[i][0] == indent:
        key, sep, rest = lines[i][1].partition(":")
        assert sep, f"expected 'key: value', got {lines[i][1]!r}"
        if rest.strip():
            mapping[key.strip()] = _scalar(rest.strip())
            i += 1
        elif i + 1 < len(lines) and lines[i + 1][0] >= indent + (
            0 if lines[i + 1][1].startswith("-") else 1
        ):
            mapping[key.strip()], i = _block(lines, i + 1, lines[i + 1][0])
        else:
            mapping[key.strip()] = None
            i += 1
    return mapping, i


def _scalar(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    parsed = parse_yaml((ROOT / "environment.yml").read_text())
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture(scope="module")
def conda_packages(environment) -> dict[str, str | None]:
    specs = [dep for dep in environment["dependencies"] if isinstance(dep, str)]
    packages = dict(map(requirement, specs))
    assert len(packages) == len(specs), "a package is listed twice in environment.yml"
    return packages


@pytest.fixture(scope="module")
def pip_packages(pyproject) -> dict[str, str | None]:
    project = pyproject["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    packages = dict(map(requirement, specs))
    assert len(packages) == len(specs), "a package is listed twice in pyproject.toml"
    return packages


def test_tiny_yaml_parser_reads_the_shapes_environment_files_use():
    text = """
    # comment
    name: env  # trailing comment
    channels:
      - conda-forge
    dependencies:
      - python>=3.11
      - pip
      - pip:
          - -e .[dev]
          - "quoted"
    empty:
    """
    assert parse_yaml(textwrap.dedent(text)) == {
        "name": "env",
        "channels": ["conda-forge"],
        "dependencies": ["python>=3.11", "pip", {"pip": ["-e .[dev]", "quoted"]}],
        "empty": None,
    }


def test_requirement_names_are_normalised_and_extras_dropped():
    assert requirement("uvicorn[standard]>=0.30") == ("uvicorn", "0.30")
    assert requirement("SQLAlchemy[asyncio] >= 2.0.30") == ("sqlalchemy", "2.0.30")
    assert requirement("nest_asyncio>=1.6") == requirement("nest-asyncio>=1.6")
    assert requirement("pip") == ("pip", None)


def test_environment_names_the_same_packages_as_pyproject(conda_packages, pip_packages):
    conda = set(conda_packages) - CONDA_ONLY

    assert sorted(set(pip_packages) - conda) == [], "missing from environment.yml"
    assert sorted(conda - set(pip_packages)) == [], "only in environment.yml"


def test_environment_has_the_same_lower_bounds(conda_packages, pip_packages):
    differing = {
        name: (bound, conda_packages.get(name))
        for name, bound in pip_packages.items()
        if conda_packages.get(name) != bound
    }

    assert differing == {}, "pyproject bound vs environment.yml bound"
    assert all(bound for bound in pip_packages.values()), "every dependency has a lower bound"


def test_environment_python_matches_requires_python(conda_packages, pyproject):
    requires = pyproject["project"]["requires-python"]

    assert requires.startswith(">=")
    assert conda_packages["python"] == requires.removeprefix(">=").strip()
    assert "pip" in conda_packages


def test_pip_section_installs_the_package_with_dev_extra(environment):
    sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict)]

    assert len(sections) == 1, "one pip: section"
    installs = [re.sub(r"\s+", " ", line.strip()) for line in sections[0]]
    assert any(line in ("-e .[dev]", ".[dev]", "-e '.[dev]'") for line in installs), installs
    assert environment["name"] == "streamverse"
    assert "conda-forge" in environment["channels"]
