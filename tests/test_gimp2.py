"""The GIMP 2.10 side: every plug-in file parses as Python 2.7, and the gimpfu back-end does the
right calls against a recording fake gimpfu, under Python 3 and under a real Python 2.7.

The Python 2.7 chroot comes from ``../shared/tools/py27/setup-py27.sh`` plus Debian's
``libpython2.7-stdlib`` (GIMP 2.10's Python has the full standard library); CI builds both and
sets UPREZ_REQUIRE_PY27=1 so that a missing interpreter fails instead of skipping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("UPREZ_SHARED_TOOLS", ROOT.parent / "shared" / "tools"))
PY27_CHROOT = Path(os.environ.get("UPREZ_PY27_CHROOT", "/tmp/uprez-py27-bullseye"))
PLUGIN_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "plugin_gimp").rglob("*.py"))
CHECKS = "tests/gimp2/run_checks.py"


def python27(*args: str) -> subprocess.CompletedProcess[str]:
    runner = TOOLS / "py27" / "run-py27.sh"
    if not runner.exists() or not (PY27_CHROOT / "usr" / "bin" / "python2.7").exists() or os.geteuid() != 0:
        message = f"needs root and the Python 2.7 chroot at {PY27_CHROOT} ({TOOLS}/py27/setup-py27.sh builds it)"
        if os.environ.get("UPREZ_REQUIRE_PY27"):
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(["bash", str(runner), str(ROOT), *args], capture_output=True, text=True, timeout=300)


def test_every_plugin_file_is_python27_syntax() -> None:
    code = (
        "import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, 'exec')\n"
        "print('compiled %d' % (len(sys.argv) - 1))"
    )
    result = python27("-c", code, *(f"/src/{name}" for name in PLUGIN_FILES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"compiled {len(PLUGIN_FILES)}"


def test_gimp2_backend_under_python27() -> None:
    result = python27(f"/src/{CHECKS}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed (Python 2.7" in result.stdout


def test_gimp2_backend_under_python3() -> None:
    result = subprocess.run([sys.executable, str(ROOT / CHECKS)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed (Python 3" in result.stdout
