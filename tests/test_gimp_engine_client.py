"""The plug-in's engine client (plugin_gimp/uprez/uprez_engine.py) with the real engine:
a killed plug-in stops its engine, and its abandoned workspace is cleaned up later."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from support import DATA

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugin_gimp" / "uprez"


def engine_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in command and "-m uprez" in command:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_killing_the_plugin_stops_the_engine(tmp_path: Path, ncnn_models: Path) -> None:
    source = tmp_path / "big.png"
    Image.open(DATA / "coffee_cup.png").resize((192, 192)).save(source)
    target = tmp_path / "out.png"
    client = (
        "import sys, uprez_engine\n"
        f"argv = uprez_engine.command({{'python': sys.executable}}, {str(source)!r}, {str(target)!r},"
        " {'model': 'realesrgan-x4plus', 'scale': 4.0, 'tile': 64, 'device': 'cpu', 'precision': 'auto'})\n"
        "uprez_engine.run(argv, on_event=lambda e: print(e['event'], flush=True))\n"
    )
    plugin = subprocess.Popen([sys.executable, "-c", client], cwd=PLUGIN, stdout=subprocess.PIPE, text=True)
    assert plugin.stdout is not None
    for line in plugin.stdout:
        if line.strip() == "progress":
            break
    engines = engine_processes(str(target))
    assert len(engines) == 1
    plugin.send_signal(signal.SIGKILL)  # what GIMP does to a plug-in whose progress is cancelled
    plugin.wait()
    killed_at = time.monotonic()
    deadline = killed_at + 60  # the engine checks between RRDB blocks: seconds, not a whole tile
    while engine_processes(str(target)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = engine_processes(str(target))
    details = [Path(f"/proc/{pid}/status").read_text().splitlines()[:8] for pid in left]
    assert not left, f"the engine outlived the plug-in by {time.monotonic() - killed_at:.0f} s: {details}"
    assert not target.exists()


def test_abandoned_workspaces_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(PLUGIN))
    import uprez_engine

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    abandoned, alive, foreign = (tmp_path / f"uprez-gimp-{n}" for n in ("dead", "alive", "nopid"))
    for folder, pid in ((abandoned, dead.pid), (alive, os.getpid()), (foreign, None)):
        folder.mkdir()
        if pid is not None:
            (folder / uprez_engine.OWNER_FILE).write_text(str(pid))
    uprez_engine.remove_abandoned_workspaces(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uprez-gimp-alive", "uprez-gimp-nopid"]
    shutil.rmtree(alive)
