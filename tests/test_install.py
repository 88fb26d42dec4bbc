"""install.py: plans per platform (pure), and real runs in a throwaway home folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uprez.installer import plan as planning
from uprez.installer.platforms import Host, cache_dir, comfyui_candidates, data_dir, find_gimps
from uprez.installer.torch_env import CPU_INDEX, CUDA_WINDOWS_INDEX, torch_install_argv

ROOT = Path(__file__).resolve().parent.parent


def host(system: str, present: set[str], *, nvidia: bool = False, machine: str = "x86_64",
         binaries: tuple[str, ...] = (), environ: dict | None = None) -> Host:  # fmt: skip
    """A machine where exactly ``present`` paths exist (relative ones are under the home)."""
    home = Path("/home/ada") if system != "win32" else Path("C:/Users/ada")
    paths = {Path(p) if Path(p).is_absolute() or ":" in p else home / p for p in present}

    def exists(path: Path) -> bool:
        return any(path == p or p in path.parents or path in p.parents for p in paths)

    return Host(system, home, environ or {}, machine, nvidia, exists, lambda name: name if name in binaries else None)


def folders(gimps) -> list[tuple[str, str, str]]:
    return [(g.version, g.flavour, g.plug_ins.as_posix()) for g in gimps]


def test_linux_native_flatpak_and_snap_gimps_are_found_by_looking() -> None:
    machine = host("linux", {".config/GIMP/2.10", ".local/share/flatpak/app/org.gimp.GIMP", "/snap/gimp"},
                   binaries=("gimp-3.0",))  # fmt: skip
    assert folders(find_gimps(machine)) == [
        ("3.0", "native", "/home/ada/.config/GIMP/3.0/plug-ins"),
        ("2.10", "native", "/home/ada/.config/GIMP/2.10/plug-ins"),
        ("3.0", "flatpak", "/home/ada/.var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins"),
        ("3.0", "snap", "/home/ada/snap/gimp/current/.config/GIMP/3.0/plug-ins"),
    ]
    assert find_gimps(host("linux", set())) == []


def test_windows_and_macos_gimp_folders() -> None:
    windows = host("win32", {"C:/Program Files/GIMP 3"}, environ={"APPDATA": "C:/Users/ada/AppData/Roaming"})
    assert folders(find_gimps(windows)) == [("3.0", "native", "C:/Users/ada/AppData/Roaming/GIMP/3.0/plug-ins")]
    mac = host("darwin", {"/Applications/GIMP.app", "Library/Application Support/GIMP/2.10"})
    assert folders(find_gimps(mac)) == [
        ("3.0", "native", "/home/ada/Library/Application Support/GIMP/3.0/plug-ins"),
        ("2.10", "native", "/home/ada/Library/Application Support/GIMP/2.10/plug-ins"),
    ]


def test_data_and_cache_folders_per_os() -> None:
    assert data_dir(host("linux", set())).as_posix() == "/home/ada/.local/share/uprez"
    assert cache_dir(host("linux", set(), environ={"XDG_CACHE_HOME": "/c"})).as_posix() == "/c/uprez"
    windows = host("win32", set(), environ={"LOCALAPPDATA": "C:/Users/ada/AppData/Local"})
    assert data_dir(windows).as_posix() == "C:/Users/ada/AppData/Local/uprez"
    assert cache_dir(windows).as_posix() == "C:/Users/ada/AppData/Local/uprez/Cache"
    assert cache_dir(host("darwin", set())).as_posix() == "/home/ada/Library/Caches/uprez"


def test_comfyui_is_found_in_common_places() -> None:
    machine = host("linux", {"ComfyUI/main.py", "ComfyUI/custom_nodes", "Documents/ComfyUI/main.py"})
    assert [p.as_posix() for p in comfyui_candidates(machine)] == ["/home/ada/ComfyUI"]


@pytest.mark.parametrize(
    ("system", "nvidia", "machine", "index"),
    [("linux", True, "x86_64", None), ("linux", False, "x86_64", CPU_INDEX),
     ("win32", True, "amd64", CUDA_WINDOWS_INDEX), ("win32", False, "amd64", None),
     ("darwin", False, "arm64", None)],
)  # fmt: skip
def test_torch_build_fits_the_machine(system: str, nvidia: bool, machine: str, index: str | None) -> None:
    argv, why = torch_install_argv("py", "torch==2.13.0", "auto", host(system, set(), nvidia=nvidia, machine=machine))
    assert ("--index-url" in argv) == (index is not None)
    if index:
        assert argv[argv.index("--index-url") + 1] == index
    assert why


def test_plan_for_a_flatpak_gimp_and_a_snap_gimp() -> None:
    machine = host("linux", {".local/share/flatpak/app/org.gimp.GIMP", "/snap/gimp"})
    actions = planning.plan(planning.Options(ROOT, ["gimp"], python="/opt/py"), machine)
    config = next(a for a in actions if a.target.endswith("org.gimp.GIMP/config/GIMP/3.0/plug-ins/uprez/uprez.json"))
    assert json.loads(config.content)["command"] == ["flatpak-spawn", "--host"]
    assert any(a.kind == "command" and "override" in a.argv for a in actions)
    assert any(a.kind == "note" and "Snap" in a.describe for a in actions)
    entry = next(a for a in actions if a.target.endswith("flatpak/../uprez.py") or a.target.endswith("/uprez/uprez.py"))
    assert entry.mode == 0o755


def run_install(*args: str, home: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_DATA_HOME": str(home / ".local/share"), "UPREZ_CACHE_DIR": str(home / ".cache/uprez")}  # fmt: skip
    return subprocess.run([sys.executable, str(cwd / "install.py"), *args], capture_output=True, text=True,
                          env=environ, timeout=900, cwd=cwd)  # fmt: skip


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_no_arguments_inside_custom_nodes_changes_nothing(tmp_path: Path) -> None:
    pack = tmp_path / "ComfyUI" / "custom_nodes" / "uprez"
    pack.mkdir(parents=True)
    shutil.copy(ROOT / "install.py", pack)
    shutil.copytree(ROOT / "installer", pack / "installer")
    home = tmp_path / "home"
    home.mkdir()
    started = time.monotonic()
    result = run_install(home=home, cwd=pack)
    assert result.returncode == 0 and "ComfyUI nodes are ready" in result.stdout
    assert time.monotonic() - started < 10 and snapshot(home) == {}


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config/GIMP/3.0").mkdir(parents=True)
    result = run_install("--dry-run", "--comfyui", str(tmp_path / "ComfyUI"), home=home)
    assert result.returncode == 0
    assert "[engine] create the torch environment" in result.stdout
    assert f"GIMP 3.0 (native): copy the plug-in (9 files) to {home}/.config/GIMP/3.0/plug-ins/uprez" in result.stdout
    assert "[comfyui] ComfyUI nodes: link" in result.stdout
    assert [p.name for p in home.rglob("*")] == [".config", "GIMP", "3.0"]


@pytest.mark.slow
def test_install_twice_then_uninstall(tmp_path: Path, ncnn_models: Path) -> None:
    home, comfyui = tmp_path / "home", tmp_path / "ComfyUI"
    (home / ".config/GIMP/3.0").mkdir(parents=True)
    (comfyui / "custom_nodes").mkdir(parents=True)
    common = ("--python", sys.executable, "--comfyui", str(comfyui))
    first = run_install(*common, home=home)
    assert first.returncode == 0, first.stdout + first.stderr
    plug_in = home / ".config/GIMP/3.0/plug-ins/uprez"
    assert os.access(plug_in / "uprez.py", os.X_OK)
    assert json.loads((plug_in / "uprez.json").read_text())["python"] == sys.executable
    assert (comfyui / "custom_nodes/uprez").resolve() == ROOT
    assert any((home / ".cache/uprez/models").glob("realesrgan-x4plus*"))  # one shared model copy
    before = snapshot(home)
    second = run_install(*common, home=home)
    assert second.returncode == 0 and "(0 changes)" in second.stdout
    assert snapshot(home) == before
    doctor = run_install("doctor", *common, home=home)
    assert doctor.returncode == 0 and "BROKEN" not in doctor.stdout, doctor.stdout

    (plug_in / "uprez.json").write_text('{"python": "/my/own/python"}\n')  # the user's edit
    third = run_install(*common, home=home)
    backups = list(plug_in.glob("uprez.json.uprez-backup-*"))
    assert third.returncode == 0 and len(backups) == 1 and "/my/own/python" in backups[0].read_text()

    (plug_in / "uprez.py").chmod(0o644)
    broken = run_install("doctor", *common, home=home)
    assert broken.returncode == 1 and "not executable, so GIMP skips it" in broken.stdout

    removed = run_install("uninstall", *common, home=home)
    assert removed.returncode == 0, removed.stderr
    assert not (comfyui / "custom_nodes/uprez").exists()
    assert sorted(p.name for p in plug_in.iterdir()) == [backups[0].name]  # only the user's own file stays
    assert not (home / ".local/share/uprez/install-manifest.json").exists()


def test_a_failure_names_the_step_and_the_fix(tmp_path: Path) -> None:
    result = run_install("engine", "--python", str(tmp_path / "no-python"), "--torch-index", "pypi", home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: engine: install torch==2.13.0") and "pass --torch-index" in result.stderr


TOOLS = Path(os.environ.get("UPREZ_SHARED_TOOLS", ROOT.parent / "shared" / "tools"))
CHROOT = Path(os.environ.get("UPREZ_GIMP3_CHROOT", "/tmp/uprez-gimp3-trixie"))
GIMP_USER = "/home/gimptest"


def gimp_console(snippet_file: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """GIMP 3 in the chroot with the user's plug-ins left as they are (run-batch.sh replaces them)."""
    mounts = []
    try:
        for source, inside in [(None, "/proc"), (work, "/io"), *[(p, str(p)) for p in {Path(sys.prefix),
                               Path(sys.base_prefix), ROOT}]]:  # fmt: skip
            point = CHROOT / inside.lstrip("/")
            point.mkdir(parents=True, exist_ok=True)
            command = ["mount", "-t", "proc", "proc", str(point)] if source is None else \
                ["mount", "--bind", str(source), str(point)]  # fmt: skip
            subprocess.run(command, check=True)
            mounts.append(point)
        return subprocess.run(
            ["flock", str(CHROOT / ".uprez-run.lock"), "chroot", "--userspec=1000:1000", str(CHROOT), "/usr/bin/env",
             "-i", f"HOME={GIMP_USER}", "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "TMPDIR=/tmp",
             "UPREZ_CACHE_DIR=/io/cache", "UPREZ_OFFLINE=1", "gimp-console-3.0", "-i", "-d", "-f",
             "--batch-interpreter=python-fu-eval", "-b", snippet_file.read_text(), "--quit"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        for point in reversed(mounts):
            subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.mark.slow
@pytest.mark.gimp
def test_installed_plugin_is_listed_and_runs_in_a_real_gimp(tmp_path: Path, ncnn_models: Path) -> None:
    if not (CHROOT / "usr/bin/gimp-console-3.0").exists() or os.geteuid() != 0:
        message = f"needs root and the GIMP 3 chroot at {CHROOT} ({TOOLS}/gimp3/setup-chroot.sh builds it)"
        if os.environ.get("UPREZ_REQUIRE_GIMP"):
            pytest.fail(message)
        pytest.skip(message)
    (CHROOT / "root").chmod(0o755)
    gimp_dir = CHROOT / GIMP_USER.lstrip("/") / ".config/GIMP/3.0"
    shutil.rmtree(gimp_dir / "plug-ins/uprez", ignore_errors=True)  # what other tests left there
    result = run_install("gimp", "--gimp-dir", str(gimp_dir), "--python", sys.executable, "--data-dir",
                         str(tmp_path / "data"), home=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert os.access(gimp_dir / "plug-ins/uprez/uprez.py", os.X_OK)
    work = tmp_path / "io"
    work.mkdir()
    work.chmod(0o777)
    shutil.copy(ROOT / "tests/data/coffee_cup.png", work / "in.png")
    cases = [{"name": "installed", "input": "/io/in.png",
              "options": {"model": "realesr-animevideov3-x4", "scale": 2.0, "result": "new-image"}}]  # fmt: skip
    (work / "cases.json").write_text(json.dumps(cases))
    gimp = gimp_console(ROOT / "tests/gimp/gimp3_cases.py", work)
    assert gimp.returncode == 0, gimp.stdout[-2000:] + gimp.stderr[-2000:]
    report = json.loads((work / "report.json").read_text())["installed"]
    assert report["status"] == "success" and (report["width"], report["height"]) == (256, 256)
    removed = run_install("uninstall", "--data-dir", str(tmp_path / "data"), home=tmp_path)
    assert removed.returncode == 0 and not (gimp_dir / "plug-ins/uprez").exists()


def test_a_plug_ins_folder_can_be_named_directly(tmp_path: Path) -> None:
    options = planning.Options(ROOT, ["gimp"], python="/opt/py", plug_in_dirs=[tmp_path / "my-plug-ins"])
    targets = {Path(a.target).parent for a in planning.plan(options, host("linux", set())) if a.kind == "write"}
    assert targets == {tmp_path / "my-plug-ins" / "uprez"}


@pytest.mark.slow
def test_a_fresh_torch_environment_in_the_user_data_folder(tmp_path: Path, ncnn_models: Path) -> None:
    """The whole engine step as a new user gets it: venv, torch for this machine, uprez, model, self-test.

    On this machine pytorch.org's CPU index is out of reach, so torch==2.13.0 comes from the
    default index (the CPU build on local disk): the fallback the plan carries.
    """
    home = tmp_path / "home"
    result = run_install("engine", home=home)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    python = home / ".local/share/uprez/venv/bin/python"
    probe = subprocess.run([str(python), "-c", "import torch, uprez; print(torch.__version__, uprez.__version__)"],
                           capture_output=True, text=True)  # fmt: skip
    assert probe.stdout.split()[0].startswith("2.13.0")
    models = run_install("models", home=home)
    assert models.returncode == 0 and "ok: self-test" in models.stdout, models.stdout + models.stderr
    again = run_install("engine", home=home)
    assert "(0 changes)" in again.stdout
    assert run_install("uninstall", home=home).returncode == 0
    assert not (home / ".local/share/uprez").exists()


def test_comfyui_copy_mode_places_a_working_pack(tmp_path: Path) -> None:
    comfyui = tmp_path / "ComfyUI"
    (comfyui / "custom_nodes").mkdir(parents=True)
    result = run_install("comfyui", "--comfyui", str(comfyui), "--comfyui-copy", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    pack = comfyui / "custom_nodes" / "uprez"
    assert (pack / "__init__.py").is_file() and (pack / "nodes" / "upscale.py").is_file()
    assert (pack / "core" / "archs" / "_winograd_layer.c").is_file()  # the CPU kernel's source
    assert not (pack / "tests").exists() and not (pack / ".git").exists()
    from comfy_executor import load_pack

    assert "UprezUpscale" in load_pack(pack).NODE_CLASS_MAPPINGS
