"""Where GIMP, ComfyUI and uprez's own folders live on each OS, found by looking."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

GIMP_VERSIONS = ("3.0", "2.10")
FLATPAK_APP = "org.gimp.GIMP"


@dataclass(frozen=True)
class Host:
    """What the plan needs to know about the machine; tests build fake ones."""

    system: str  # "linux", "win32" or "darwin"
    home: Path
    environ: Dict[str, str] = field(default_factory=dict)
    machine: str = "x86_64"
    nvidia: bool = False
    exists: Callable[[Path], bool] = Path.exists
    which: Callable[[str], Optional[str]] = lambda name: None


def this_host() -> Host:
    system = "win32" if sys.platform == "win32" else ("darwin" if sys.platform == "darwin" else "linux")
    nvidia = shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/version").exists()
    return Host(system, Path.home(), dict(os.environ), platform.machine().lower(), nvidia, Path.exists, shutil.which)


def data_dir(host: Host) -> Path:
    """uprez's user data folder (the torch environment, the install manifest)."""
    if host.system == "win32":
        return Path(host.environ.get("LOCALAPPDATA") or host.home / "AppData" / "Local") / "uprez"
    if host.system == "darwin":
        return host.home / "Library" / "Application Support" / "uprez"
    return Path(host.environ.get("XDG_DATA_HOME") or host.home / ".local" / "share") / "uprez"


def cache_dir(host: Host) -> Path:
    """The model cache every face shares; the same rule as uprez.core.models.cache."""
    override = host.environ.get("UPREZ_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if host.system == "win32":
        return Path(host.environ.get("LOCALAPPDATA") or host.home / "AppData" / "Local") / "uprez" / "Cache"
    if host.system == "darwin":
        return host.home / "Library" / "Caches" / "uprez"
    return Path(host.environ.get("XDG_CACHE_HOME") or host.home / ".cache") / "uprez"


@dataclass(frozen=True)
class GimpInstall:
    """A GIMP user folder (``.../GIMP/<version>``) and how that GIMP runs programs."""

    version: str
    folder: Path
    flavour: str  # "native", "flatpak" or "snap"
    plug_ins_dir: Optional[Path] = None  # when a plug-ins folder was named directly

    @property
    def plug_ins(self) -> Path:
        return self.plug_ins_dir or self.folder / "plug-ins"

    @property
    def python2(self) -> bool:
        return self.version == "2.10"


def _gimp_bases(host: Host) -> List[tuple]:
    """(GIMP config base folder, flavour, is that GIMP installed) for this OS."""
    home = host.home
    if host.system == "win32":
        appdata = Path(host.environ.get("APPDATA") or home / "AppData" / "Roaming")
        programs = Path(host.environ.get("PROGRAMFILES") or "C:/Program Files")
        installed = any(host.exists(programs / name) for name in ("GIMP 3", "GIMP 2"))
        return [(appdata / "GIMP", "native", installed)]
    if host.system == "darwin":
        installed = host.exists(Path("/Applications/GIMP.app")) or host.exists(home / "Applications" / "GIMP.app")
        return [(home / "Library" / "Application Support" / "GIMP", "native", installed)]
    config = Path(host.environ.get("XDG_CONFIG_HOME") or home / ".config")
    native = any(host.which(name) for name in ("gimp", "gimp-3.0", "gimp-2.10"))
    flatpak = host.exists(home / ".local/share/flatpak/app" / FLATPAK_APP) or host.exists(
        Path("/var/lib/flatpak/app") / FLATPAK_APP
    )
    snap = host.exists(Path("/snap/gimp"))
    return [
        (config / "GIMP", "native", native),
        (home / ".var/app" / FLATPAK_APP / "config/GIMP", "flatpak", flatpak),
        (home / "snap/gimp/current/.config/GIMP", "snap", snap),
    ]


def find_gimps(host: Host) -> List[GimpInstall]:
    """GIMP user folders of GIMPs that are installed or have run (their folder exists)."""
    found = []
    for base, flavour, installed in _gimp_bases(host):
        for version in GIMP_VERSIONS:
            folder = base / version
            if host.exists(folder) or (installed and version == GIMP_VERSIONS[0]):
                found.append(GimpInstall(version, folder, flavour))
    return found


def comfyui_candidates(host: Host) -> List[Path]:
    """Common ComfyUI locations (a folder holding main.py and custom_nodes/)."""
    home = host.home
    names = [home / "ComfyUI", home / "comfyui", home / "comfy" / "ComfyUI", home / "Documents" / "ComfyUI",
             home / "AI" / "ComfyUI", home / "src" / "ComfyUI"]  # fmt: skip
    return [path for path in names if host.exists(path / "main.py") and host.exists(path / "custom_nodes")]
