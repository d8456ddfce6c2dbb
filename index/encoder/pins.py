"""Version pins, read from the one place they are written: ``pyproject.toml``.

Error messages name install commands with these pins, so a message never drifts from what the
project installs. A source checkout reads its ``pyproject.toml``; an installed copy reads the
same requirements from its package metadata.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

DISTRIBUTION = "daleel"
_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*([^;]*?)\s*(?:;(.*))?$")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


@lru_cache(maxsize=1)
def requirements() -> dict[str, tuple[str, str | None]]:
    """``{distribution: (requirement, extra)}``: extra is None for the base install."""
    out: dict[str, tuple[str, str | None]] = {}
    for line in _raw_requirements():
        match = _REQUIREMENT.match(line)
        if not match:
            continue
        name, spec, marker = match.groups()
        extra = m.group(1) if marker and (m := _EXTRA.search(marker)) else None
        key = name.lower()
        if key not in out or out[key][1] is not None:  # the base install wins over an extra
            out[key] = (name + spec, extra)
    return out


def pin(distribution: str) -> str:
    """``name==version`` as pinned by the project, or the bare name when it pins none."""
    return requirements().get(distribution.lower(), (distribution, None))[0]


def install_command(distributions: tuple[str, ...], extra: str | None = None) -> str:
    """A pip line that installs ``distributions`` at the project's pins."""
    pinned = " ".join(pin(d) for d in distributions)
    if extra:
        return f"pip install '{DISTRIBUTION}[{extra}]'  (or: pip install {pinned})"
    return f"pip install {pinned}"


def _raw_requirements() -> list[str]:
    if _PYPROJECT.is_file():  # a source checkout: the file itself
        import tomllib

        project = tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))["project"]
        lines = list(project.get("dependencies", []))
        for extra, deps in project.get("optional-dependencies", {}).items():
            lines += [f'{dep}; extra == "{extra}"' for dep in deps]
        return lines
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        return []
