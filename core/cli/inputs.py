"""Turning the command line's inputs and ``-o`` into (input, output) pairs."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..imageio import FORMATS

# Folders and globs pick up image files only; raw .npy samples are taken when named explicitly.
IMAGE_SUFFIXES = frozenset(FORMATS) - {".npy"}
GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Job:
    """One input and where its result goes; ``problem`` is set when the input is unusable."""

    input: Path
    output: Path | None = None
    problem: str | None = None


def scale_suffix(scale: float) -> str:
    return f"_x{scale:g}"


def plan_jobs(
    inputs: list[str], *, output: str | None, recursive: bool, suffix: str, extension: str | None
) -> list[Job]:
    """Expands files, folders and globs and names each output.

    Files are written beside themselves, a folder's images into a sibling folder named with
    ``suffix`` (mirroring sub-folders with ``recursive``), everything into ``output`` when it
    names a folder; a single file may also be given an output file name.
    """
    found = _expand(inputs, recursive)
    single_file_target = (
        output is not None
        and len(inputs) == 1
        and Path(inputs[0]).is_file()
        and not output.endswith(("/", os.sep))
        and not Path(output).is_dir()
    )
    keep = set(_drop_previous_outputs([(path, base) for path, base, problem in found if problem is None], suffix))
    jobs = []
    for path, base, problem in found:
        if problem is not None:
            jobs.append(Job(path, problem=problem))
        elif (path, base) in keep:
            folder = _output_folder(path, base, output, suffix)
            target = Path(output) if single_file_target else folder / f"{path.stem}{suffix}{extension or '.png'}"
            jobs.append(Job(path, target))
    return jobs


def _expand(inputs: list[str], recursive: bool) -> list[tuple[Path, Path | None, str | None]]:
    """(file, the folder it was found under or None, problem) for every input, in order."""
    found: list[tuple[Path, Path | None, str | None]] = []
    seen: set[Path] = set()

    def add(path: Path, base: Path | None) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append((path, base, None))

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            for candidate in sorted(path.glob(pattern)):
                if _is_image(candidate):
                    add(candidate, path)
        elif path.is_file():
            add(path, None)
        elif GLOB_CHARACTERS & set(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=recursive) if _is_image(Path(m)))
            if not matches:
                found.append((path, None, "no image file matches this pattern"))
            for match in matches:
                add(match, None)
        else:
            found.append((path, None, "no such file or folder"))
    return found


def _is_image(path: Path) -> bool:
    hidden = any(part.startswith(".") and part not in (".", "..") for part in path.parts)
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not hidden


def _drop_previous_outputs(files: list[tuple[Path, Path | None]], suffix: str) -> list[tuple[Path, Path | None]]:
    """Leaves out ``photo_x4.png`` when ``photo.jpg`` is in the same batch: an earlier result."""
    stems = {(path.parent.resolve(), path.stem) for path, _ in files}
    return [
        (path, base)
        for path, base in files
        if not (path.stem.endswith(suffix) and (path.parent.resolve(), path.stem[: -len(suffix)]) in stems)
    ]


def _output_folder(path: Path, base: Path | None, output: str | None, suffix: str) -> Path:
    relative = path.parent.relative_to(base) if base is not None else Path()
    if output is not None:
        return Path(output) / (relative if base is not None else Path())
    if base is not None:
        absolute = base.resolve()
        return absolute.parent / f"{absolute.name}{suffix}" / relative
    return path.parent
