"""Carrying out a plan: files, links and commands, recorded in a manifest so that a second run
changes nothing, uninstall removes exactly what was written, and a user's edit is never lost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

MANIFEST_NAME = "install-manifest.json"
BACKUP_SUFFIX = ".uprez-backup-"
COMMAND_TIMEOUT = 3600  # a torch download on a slow line


class InstallError(Exception):
    """One line: the step that failed and what to do."""

    def __init__(self, step: str, problem: str, fix: str) -> None:
        super().__init__(f"{step}: {problem}; {fix}")


@dataclass(frozen=True)
class Action:
    """One thing to do. ``kind`` is write, link, command, check (a command that changes nothing)
    or note."""

    step: str
    kind: str
    target: str
    describe: str
    content: bytes = b""
    mode: int = 0o644
    source: str = ""
    argv: Tuple[str, ...] = ()
    skip_if: Tuple[str, ...] = ()  # a command whose success means "already done"
    fallbacks: Tuple[Tuple[str, ...], ...] = ()  # tried in order when argv fails
    creates: str = ""  # a folder the command makes (removed by uninstall)
    fix: str = ""  # what to tell the user if it fails


@dataclass
class Manifest:
    path: Path
    files: Dict[str, str] = field(default_factory=dict)  # path -> sha256 we wrote
    links: Dict[str, str] = field(default_factory=dict)  # link -> what it points to
    folders: List[str] = field(default_factory=list)  # made by a command, removed whole

    @classmethod
    def load(cls, path: Path) -> Manifest:
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, data.get("files", {}), data.get("links", {}), data.get("folders", []))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "files": self.files, "links": self.links, "folders": self.folders}
        _atomic_write(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(), 0o644)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class Executor:
    """Runs actions; ``report`` collects one plain line per action (changed or not)."""

    def __init__(self, manifest: Manifest, log=print) -> None:  # noqa: ANN001
        self.manifest, self.log = manifest, log
        self.changed = 0

    def run(self, actions: List[Action]) -> int:
        for action in actions:
            getattr(self, "_" + action.kind)(action)
            self.manifest.save()
        return self.changed

    def _note(self, action: Action) -> None:
        self.log(f"note: {action.describe}")

    def _write(self, action: Action) -> None:
        target = Path(action.target)
        wanted = sha256(action.content)
        if target.is_file():
            current = sha256(target.read_bytes())
            if current == wanted:
                self.manifest.files[str(target)] = wanted
                if (target.stat().st_mode & 0o777) != action.mode:
                    os.chmod(target, action.mode)
                    self.changed += 1
                return
            if self.manifest.files.get(str(target)) != current:  # not what we wrote: the user's
                backup = target.with_name(target.name + BACKUP_SUFFIX + time.strftime("%Y%m%d-%H%M%S"))
                shutil.copy2(target, backup)
                self.log(f"kept your changed {target} as {backup}")
        _atomic_write(target, action.content, action.mode)
        self.manifest.files[str(target)] = wanted
        self.changed += 1
        self.log(f"wrote {target}")

    def _link(self, action: Action) -> None:
        target = Path(action.target)
        if target.is_symlink() and os.readlink(target) == action.source:
            self.manifest.links[str(target)] = action.source
            return
        if target.is_symlink() or target.exists():
            if self.manifest.links.get(str(target)) is None:
                raise InstallError(action.step, f"{target} already exists and is not uprez's",
                                   "move it away, or install with --comfyui-copy")  # fmt: skip
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(action.source, target, target_is_directory=True)
        self.manifest.links[str(target)] = action.source
        self.changed += 1
        self.log(f"linked {target} -> {action.source}")

    def _check(self, action: Action) -> None:
        result = _run(action.argv)
        if result.returncode != 0:
            detail = " ".join(result.stderr.split())[-300:] or f"exit {result.returncode}"
            raise InstallError(action.step, f"{action.describe} failed ({detail})", action.fix or "see above")
        self.log(f"ok: {action.describe}")

    def _command(self, action: Action) -> None:
        if action.skip_if and _succeeds(action.skip_if):
            return
        for argv in (action.argv, *action.fallbacks):
            result = _run(argv)
            if result.returncode == 0:
                if action.creates and action.creates not in self.manifest.folders:
                    self.manifest.folders.append(action.creates)
                self.changed += 1
                self.log(f"done: {action.describe}")
                return
            last = " ".join(result.stderr.split())[-300:] or f"exit {result.returncode}"
        raise InstallError(action.step, f"{action.describe} failed ({last})", action.fix or "see the message above")


def _run(argv: Tuple[str, ...]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(list(argv), 127, "", str(error))


def _succeeds(argv: Tuple[str, ...]) -> bool:
    return _run(argv).returncode == 0


def uninstall(manifest: Manifest, log=print) -> int:  # noqa: ANN001
    """Removes what the manifest records; files the user changed since are kept and named."""
    removed = 0
    for path, recorded in sorted(manifest.files.items()):
        target = Path(path)
        if not target.is_file():
            continue
        if sha256(target.read_bytes()) != recorded:
            log(f"kept {target}: it changed since uprez wrote it")
            continue
        target.unlink()
        removed += 1
        _remove_empty_parents(target.parent)
    for path, source in sorted(manifest.links.items()):
        target = Path(path)
        if target.is_symlink() and os.readlink(target) == source:
            target.unlink()
            removed += 1
    for folder in manifest.folders:
        if Path(folder).is_dir():
            shutil.rmtree(folder)
            removed += 1
    if manifest.path.exists():
        manifest.path.unlink()
        _remove_empty_parents(manifest.path.parent)
    log(f"removed {removed} things uprez had installed")
    return removed


def _remove_empty_parents(folder: Path, levels: int = 2) -> None:
    cache = folder / "__pycache__"  # GIMP's Python compiles the plug-in's modules here
    if cache.is_dir() and all(p.suffix == ".pyc" for p in cache.iterdir()):
        shutil.rmtree(cache)
    for _ in range(levels):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
