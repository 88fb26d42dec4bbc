"""The package as users and hosts meet it: layout, import safety, entry points, import boundaries."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)
CORE_THIRD_PARTY = {"torch", "numpy", "PIL", "safetensors", "cv2", "tifffile", "h5py"}
FORBIDDEN_IN_CORE = {"comfy", "comfy_extras", "folder_paths", "gimpfu", "gi", "torchvision", "nodes"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ))


def test_layout_of_the_design() -> None:
    for entry in ("core", "nodes", "plugin_gimp", "tests", "install.py", "pyproject.toml", "__init__.py"):
        assert (ROOT / entry).exists(), entry
    assert not (ROOT / "tests" / "__init__.py").exists()


def test_import_uprez_loads_neither_torch_nor_comfyui() -> None:
    probe = "import sys, uprez; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'comfy', 'nodes')))"
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [["-m", "uprez", "--help"], ["-m", "uprez", "upscale", "--help"]])
def test_python_dash_m_help(command: list[str]) -> None:
    result = run(sys.executable, *command)
    assert result.returncode == 0 and "usage: uprez" in result.stdout


def test_console_script_help() -> None:
    script = shutil.which("uprez") or str(Path(sys.executable).parent / "uprez")
    result = run(script, "--help")
    assert result.returncode == 0 and "upscale" in result.stdout


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(level, module) for every import in a file; level > 0 means relative."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is None:  # from . import _x: module _x
            found += [(node.level, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module))
    return found


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_stay_inside_their_boundary(path: Path) -> None:
    for level, module in imports_of(path):
        top = module.split(".")[0]
        if level:
            continue  # relative imports stay inside uprez; the depth check below covers core/archs
        assert top not in FORBIDDEN_IN_CORE, f"{path.name} imports {module}"
        assert top in STDLIB or top in CORE_THIRD_PARTY, f"{path.name} imports {module}, not a listed library"


@pytest.mark.parametrize("path", python_files("core/archs"), ids=lambda p: p.name)
def test_architecture_files_import_only_torch_and_the_base(path: Path) -> None:
    for level, module in imports_of(path):
        if level:
            assert module.startswith("_") or (path.name == "__init__.py"), f"{path.name} imports .{module}"
        else:
            assert module.split(".")[0] in STDLIB | {"torch"}, f"{path.name} imports {module}"


def test_every_architecture_file_registers_itself() -> None:
    from uprez.core.archs import all_architectures

    public = {p.stem for p in (ROOT / "core" / "archs").glob("*.py") if not p.stem.startswith("_")}
    assert {arch.module.__module__.rsplit(".", 1)[1] for arch in all_architectures()} == public


INSTALLER_FILES = [ROOT / "install.py", *sorted((ROOT / "installer").glob("*.py"))]


@pytest.mark.parametrize("path", INSTALLER_FILES, ids=lambda p: p.name)
def test_installer_is_standard_library_python38(path: Path) -> None:
    for level, module in imports_of(path):
        assert level or module.split(".")[0] in STDLIB | {"installer"}, module
    ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 8))  # grammar of Python 3.8


def test_plugin_gimp_never_imports_torch_or_uprez() -> None:
    for path in python_files("plugin_gimp"):
        for level, module in imports_of(path):
            assert not level and module.split(".")[0] not in {"torch", "numpy", "uprez"}, (path, module)


def test_lint_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = run(ruff, "check", ".")
    assert result.returncode == 0, result.stdout[-3000:]
