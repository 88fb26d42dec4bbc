"""C kernels built on first use (core/archs/_native.py): kept per machine, rebuilt when damaged,
built safely by processes at once, refused cleanly without a compiler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from uprez.core.archs import _native

SOURCE = "_winograd_layer.c"


@pytest.fixture
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "kernels"
    monkeypatch.setattr(_native, "build_dir", folder)
    _native.forget()
    if _native.library(SOURCE) is None:
        reason = _native.why_unavailable(SOURCE)
        _native.forget()
        if os.environ.get("UPREZ_REQUIRE_NATIVE"):
            pytest.fail(f"no C kernels here: {reason}")
        pytest.skip(f"no C kernels here: {reason}")
    yield folder
    _native.forget()


def libraries(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def test_a_built_library_is_kept_and_loaded_again(build_dir: Path) -> None:
    (built,) = libraries(build_dir)
    assert built.name.startswith("_winograd_layer-") and built.suffix == ".so"
    stamp = built.stat().st_mtime_ns
    _native.forget()
    assert _native.library(SOURCE) is not None
    assert libraries(build_dir) == [built] and built.stat().st_mtime_ns == stamp  # not built again


def test_a_damaged_library_is_built_again(build_dir: Path) -> None:
    (built,) = libraries(build_dir)
    # Replaced, not overwritten: this process has the library mapped, and truncating a mapped
    # file kills it with SIGBUS when it next touches those pages (at exit, say).
    damaged = built.with_name("damaged")
    damaged.write_bytes(b"not a shared library")
    os.replace(damaged, built)
    # In a fresh process: this one would get the library it already loaded from that path.
    assert load_in_a_process(build_dir).wait(timeout=300) == 0
    assert libraries(build_dir) == [built] and built.stat().st_size > 1000


def test_processes_building_at_once_leave_one_whole_library(build_dir: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    runs = [load_in_a_process(fresh) for _ in range(3)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0, 0]
    (built,) = libraries(fresh)  # no half-written ".part" files left either
    assert built.suffix == ".so"


def load_in_a_process(folder: Path) -> subprocess.Popen:
    probe = (
        "import sys; from pathlib import Path; from uprez.core.archs import _native; "
        f"_native.build_dir = Path({str(folder)!r}); "
        f"sys.exit(0 if _native.library({SOURCE!r}) is not None else 1)"
    )
    return subprocess.Popen([sys.executable, "-c", probe])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_the_kernels_share_pytorchs_openmp_runtime(build_dir: Path) -> None:
    import torch

    with open("/proc/self/maps", encoding="utf-8") as maps:
        runtimes = {line.split()[-1] for line in maps if "libgomp" in line}
    assert len(runtimes) == 1, runtimes
    assert Path(next(iter(runtimes))).parent == Path(torch.__file__).parent / "lib"


def test_a_failing_compiler_is_reported_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'cc: error: unsupported option -march=native' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setattr(_native, "build_dir", tmp_path / "kernels")
    monkeypatch.setenv("CC", str(failing))
    _native.forget()
    try:
        with pytest.warns(RuntimeWarning, match=r"C kernel unavailable \(_winograd_layer.c: cc failed"):
            assert _native.library(SOURCE) is None
        reason = _native.why_unavailable(SOURCE)
    finally:
        _native.forget()
    assert reason == "_winograd_layer.c: cc failed: cc: error: unsupported option -march=native"
    assert list((tmp_path / "kernels").iterdir()) == []  # no temporary file left behind


def test_turned_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPREZ_NATIVE", "0")
    assert _native.library(SOURCE) is None
    assert _native.why_unavailable(SOURCE) == "turned off (UPREZ_NATIVE=0)"
