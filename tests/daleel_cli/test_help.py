"""The command line stays light: ``--help`` and parsing load no heavy library."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

HEAVY = ("numpy", "faiss", "torch", "gradio", "bm25s", "sentence_transformers")
CHECK = (
    "import runpy, sys\n"
    "sys.argv = {argv!r}\n"
    "try:\n"
    "    runpy.run_module({module!r}, run_name='__main__')\n"
    "except SystemExit as exit:\n"
    "    assert exit.code == 0, exit.code\n"
    "print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
)


@pytest.mark.parametrize("module", ["qa", "daleel_cli"])
@pytest.mark.parametrize("argv", [["daleel", "--help"], ["daleel", "build", "--help"],
                                  ["daleel", "watch", "--help"]])
def test_help_loads_no_heavy_library(module: str, argv: list[str]) -> None:
    code = CHECK.format(argv=argv, module=module, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
    assert "openvino-int8" in done.stdout or "build" in done.stdout


def test_importing_the_library_changes_no_global_state() -> None:
    code = (
        "import logging, os\n"
        "before = dict(os.environ)\n"
        "import index.build, index.lexical, index.watch, index.encoder.encoder, qa.assistant\n"
        "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())\n"
        "print(logging.getLogger().handlers)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Only the application configures logging.
    assert done.stdout.split() == ["[]"]
