"""``install.py doctor``: each part as ok or broken, with the fix."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import List, Tuple

from .plan import CONFIG_NAME, PLUGIN_NAME, Options, engine_python, gimp_targets
from .platforms import Host, comfyui_candidates

Check = Tuple[str, bool, str]  # (part, ok, detail or fix)
TIMEOUT = 300
DEVICE_PROBE = (
    "import torch; print('cuda: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() "
    "else ('mps' if torch.backends.mps.is_available() else 'cpu'))"
)


def _python(python: str, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([python, *args], capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess([python], 127, "", str(error))


def checks(options: Options, host: Host) -> List[Check]:
    python = engine_python(options, host)
    results: List[Check] = []
    version = _python(python, "-m", "uprez", "--version")
    engine_ok = version.returncode == 0
    results.append(("engine", engine_ok, version.stdout.strip() + f" ({python})" if engine_ok
                    else f"{python} cannot run uprez; run `python install.py` (or pass --python)"))  # fmt: skip
    device = _python(python, "-c", DEVICE_PROBE)
    results.append(("torch device", device.returncode == 0, device.stdout.strip() or
                    "torch does not import; run `python install.py` to reinstall it"))  # fmt: skip
    for gimp in gimp_targets(options, host):
        results.append(_gimp_check(gimp.version, gimp.flavour, gimp.plug_ins / PLUGIN_NAME))
    for comfyui in options.comfyui or comfyui_candidates(host):
        pack = Path(comfyui) / "custom_nodes" / PLUGIN_NAME
        ok = (pack / "__init__.py").is_file()
        results.append((f"ComfyUI {comfyui}", ok, str(pack) if ok else "nodes missing; run `python install.py`"))
    listing = _python(python, "-m", "uprez", "models", "list", "--json")
    if listing.returncode == 0:
        rows = json.loads(listing.stdout)["models"]
        ok = any(row["id"] == options.model and row["path"] for row in rows)
        results.append(("models", ok, f"{options.model} installed" if ok else
                        f"{options.model} missing; run `{python} -m uprez models fetch {options.model}`"))  # fmt: skip
    else:
        results.append(("models", False, "cannot list models: the engine is broken (see above)"))
    return results


def _gimp_check(version: str, flavour: str, folder: Path) -> Check:
    name = f"GIMP {version} ({flavour})"
    entry, config = folder / f"{PLUGIN_NAME}.py", folder / CONFIG_NAME
    if not entry.is_file():
        return (name, False, f"plug-in missing in {folder}; run `python install.py`")
    if not os.access(entry, os.X_OK):
        return (name, False, f"{entry} is not executable, so GIMP skips it; run `python install.py`")
    try:
        python = json.loads(config.read_text(encoding="utf-8"))["python"]
    except (OSError, ValueError, KeyError):
        return (name, False, f"{config} is missing or broken; run `python install.py`")
    if not Path(python).exists():
        return (name, False, f"{config} names {python}, which does not exist; run `python install.py`")
    return (name, True, f"{entry}, engine {python}")


def report(results: List[Check]) -> str:
    return "\n".join(f"{'ok    ' if ok else 'BROKEN'}  {part}: {detail}" for part, ok, detail in results)
