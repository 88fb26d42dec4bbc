#!/usr/bin/env python3
"""uprez installer: standard library only, any Python 3.8+, before anything else is installed.

    python install.py [install] [options]   the torch environment, the default model, the GIMP
                                            plug-in for every GIMP found, the ComfyUI nodes
    python install.py uninstall             remove exactly what install wrote
    python install.py doctor                each part as ok or broken, with the fix
    python install.py gimp|comfyui|engine|models [options]   one step only

Run inside ComfyUI's custom_nodes/ with no arguments (as ComfyUI-Manager does), it changes
nothing: the nodes need nothing beyond ComfyUI's own packages. --dry-run prints the plan.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from installer import doctor
from installer.actions import Executor, InstallError, Manifest, uninstall
from installer.plan import STEPS, Options, describe, plan
from installer.platforms import cache_dir, data_dir, this_host

REPO = Path(__file__).resolve().parent
MANIFEST = "install-manifest.json"
INSIDE_COMFYUI_MESSAGE = (
    "uprez: the ComfyUI nodes are ready (they need only what ComfyUI already has).\n"
    "For GIMP and the `uprez` command, run `python install.py install` from a checkout outside ComfyUI.\n"
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="install.py", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = root.add_subparsers(dest="command")
    for name in ("install", *STEPS):
        sub = commands.add_parser(name, help="everything" if name == "install" else f"only the {name} step")
        _options(sub)
    for name in ("uninstall", "doctor"):
        _options(commands.add_parser(name))
    return root


def _options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sub.add_argument("--python", help="use this Python (with torch) instead of making a venv")
    sub.add_argument("--data-dir", type=Path, help="uprez's data folder (venv, manifest)")
    sub.add_argument(
        "--gimp-dir", type=Path, action="append", default=[], help="a GIMP user folder, e.g. ~/.config/GIMP/3.0"
    )
    sub.add_argument("--plug-ins", type=Path, action="append", default=[], help="a GIMP plug-ins folder")
    sub.add_argument("--gimp2", action="store_true", help="the --plug-ins folders are GIMP 2.10's")
    sub.add_argument("--comfyui", type=Path, action="append", default=[], help="a ComfyUI folder")
    sub.add_argument("--comfyui-copy", action="store_true", help="copy the nodes instead of linking them")
    sub.add_argument("--torch", default="torch==2.13.0", help="the torch requirement (default: the tested one)")
    sub.add_argument("--torch-index", default="auto", help="auto, pypi, or an index URL for torch")
    sub.add_argument("--model", default="realesrgan-x4plus", help="the model to fetch and self-test")


def options_from(args: argparse.Namespace) -> Options:
    steps = list(STEPS) if args.command in ("install", "uninstall", "doctor") else [args.command]
    return Options(REPO, steps, args.python, args.data_dir, args.gimp_dir, args.plug_ins, args.gimp2,
                   args.comfyui, args.comfyui_copy, args.torch, args.torch_index, args.model)  # fmt: skip


def main(argv: list) -> int:
    if not argv and REPO.parent.name == "custom_nodes":
        sys.stdout.write(INSIDE_COMFYUI_MESSAGE)
        return 0
    commands = ("install", "uninstall", "doctor", *STEPS)
    if not argv or argv[0] not in commands + ("-h", "--help"):
        argv = ["install", *argv]  # plain `python install.py [options]` installs
    args = parser().parse_args(argv)
    options, host = options_from(args), this_host()
    manifest = Manifest.load((options.data or data_dir(host)) / MANIFEST)
    try:
        if args.command == "doctor":
            results = doctor.checks(options, host)
            print(doctor.report(results))
            return 0 if all(ok for _, ok, _ in results) else 1
        if args.command == "uninstall":
            if args.dry_run:
                print("\n".join(["would remove:", *manifest.files, *manifest.links, *manifest.folders]))
                return 0
            uninstall(manifest)
            print(f"kept the model cache {cache_dir(host)}: other installs share it; delete it to free space")
            return 0
        actions = plan(options, host)
        if args.dry_run:
            print("\n".join(describe(actions)))
            return 0
        changed = Executor(manifest).run(actions)
        print(f"uprez installed ({changed} change{'s' if changed != 1 else ''}); `python install.py doctor` checks it")
        return 0
    except InstallError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
