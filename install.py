#!/usr/bin/env python3
"""uprez installer: standard library only, runnable before anything else is installed.

    python install.py                       print this help; change nothing (ComfyUI-Manager runs it so)
    python install.py gimp [options]        put the GIMP plug-in where GIMP looks for it

The GIMP step copies plugin_gimp/uprez/ to <GIMP>/plug-ins/uprez/ (uprez.py executable) and
writes uprez.json beside it, naming the Python that runs the engine (`python -m uprez`) and the
models it knows. More steps (torch environment, ComfyUI, every OS and GIMP flavour) follow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PLUGIN_SOURCE = ROOT / "plugin_gimp" / "uprez"
PLUGIN_NAME = "uprez"
CONFIG_NAME = "uprez.json"
GIMP_VERSIONS = ("3.0", "2.10")
PYTHON2_SHEBANG = "#!/usr/bin/env python2\n"  # GIMP 2.10 runs Python-Fu plug-ins with Python 2.7
ENGINE_CHECK_SECONDS = 300


class InstallError(Exception):
    """A step failed; the message names the step and what to do."""


def gimp_user_folders(home: Path | None = None, platform: str = sys.platform) -> list[Path]:
    """GIMP user folders (``.../GIMP/<version>``) that exist: GIMP has run there at least once."""
    home = home or Path.home()
    if platform == "win32":
        bases = [Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "GIMP"]
    elif platform == "darwin":
        bases = [home / "Library" / "Application Support" / "GIMP"]
    else:
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        bases = [config / "GIMP", home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP",
                 home / "snap" / "gimp" / "current" / ".config" / "GIMP"]  # fmt: skip
    return [base / version for base in bases for version in GIMP_VERSIONS if (base / version).is_dir()]


def engine_models(python: str) -> list[str]:
    """Model ids from the engine itself; also proves that ``python -m uprez`` runs."""
    command = [python, "-m", "uprez", "models", "list", "--json"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=ENGINE_CHECK_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InstallError(f"gimp: cannot run the engine with {python} ({error}); pass --python") from error
    if result.returncode != 0:
        tail = " ".join(result.stderr.split())[-300:]
        raise InstallError(f"gimp: `{python} -m uprez` failed ({tail}); install uprez into that Python first")
    return [row["id"] for row in json.loads(result.stdout)["models"]]


def install_gimp_plugin(plug_ins: Path, python: str, models: list[str], *, python2: bool = False) -> Path:
    """Copies the plug-in into ``plug_ins/uprez/`` and writes its config; returns the folder."""
    target = plug_ins / PLUGIN_NAME
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(PLUGIN_SOURCE.glob("*.py")):
        text = source.read_text(encoding="utf-8")
        if python2 and source.name == f"{PLUGIN_NAME}.py":
            text = PYTHON2_SHEBANG + text.split("\n", 1)[1]
        (target / source.name).write_text(text, encoding="utf-8")
    entry = target / f"{PLUGIN_NAME}.py"
    entry.chmod(0o755)  # GIMP 3 skips a plug-in that is not executable, without a word
    config = {"python": python, "models": models}
    (target / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return target


def run_gimp_step(args: argparse.Namespace) -> int:
    # abspath, not resolve(): a venv's python is a symlink, and resolving it leaves the venv.
    python = os.path.abspath(args.python) if args.python else sys.executable
    folders = [Path(p) for p in args.plug_ins] or [f / "plug-ins" for f in gimp_user_folders()]
    if not folders:
        raise InstallError("gimp: no GIMP user folder found; start GIMP once, or pass --plug-ins DIR")
    models = engine_models(python)
    for folder in folders:
        python2 = args.gimp2 or folder.parent.name == "2.10"
        if args.dry_run:
            print(f"would install the GIMP plug-in into {folder / PLUGIN_NAME} (engine: {python})")
            continue
        target = install_gimp_plugin(folder, python, models, python2=python2)
        print(f"GIMP plug-in installed: {target} (engine: {python}, {len(models)} models)")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="install.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    steps = parser.add_subparsers(dest="step")
    gimp = steps.add_parser("gimp", help="install the GIMP plug-in")
    gimp.add_argument("--plug-ins", action="append", default=[], metavar="DIR",
                      help="a GIMP plug-ins folder (default: every GIMP user folder found)")  # fmt: skip
    gimp.add_argument("--python", help="the Python that has uprez and torch (default: this one)")
    gimp.add_argument("--gimp2", action="store_true", help="the folder belongs to GIMP 2.10 (Python 2 shebang)")
    gimp.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    args = parser.parse_args(argv)
    if args.step is None:
        parser.print_help()
        return 0
    try:
        return run_gimp_step(args)
    except InstallError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
