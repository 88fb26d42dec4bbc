"""uprez's node against ComfyUI's own "Upscale Image (using Model)" in a running ComfyUI.

    python benchmarks/bench_comfyui.py --client PATH/run_workflow.py --pid COMFYUI_PID \
        [--photo photo-256] [--rounds 3] [--model realesrgan-x4plus.safetensors]

Same model file (loaded by ComfyUI's UpscaleModelLoader for both, so only the upscale node
differs), same photo, alternating runs; each run uploads the photo under a new name so that
ComfyUI's cache cannot skip the work. Prints the upscale node's wall time and the server's peak
RSS during it (sampled by the client), and checks the two outputs against each other.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import photos
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# name: (workflow, input overrides); "uprez-border10" mirrors 10 px first, as realesrgan-ncnn-vulkan.
WORKFLOWS = {
    "builtin": ("builtin_upscale.json", []),
    "uprez": ("comfy_loader_uprez_upscale.json", []),
    "uprez-border10": ("comfy_loader_uprez_upscale.json", ["--set", "3.border=10"]),
}


def run_once(client: Path, workflow: tuple[str, list[str]], photo: Path, pid: int, work: Path, index: int) -> dict:
    upload = work / f"bench_{index}_{photo.name}"
    shutil.copy(photo, upload)
    report = work / f"report_{index}.json"
    name, overrides = workflow
    command = [sys.executable, str(client), str(EXAMPLES / name), *overrides, "--upload", str(upload),
               "--set", f"1.image={upload.name}", "--out", str(work / f"out_{index}"), "--pid", str(pid),
               "--report", str(report), "--quiet", "--timeout", "3600"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    result = json.loads(report.read_text())
    node = next(n for n in result["node_timings"] if n["node"] == "3")
    image = next((work / f"out_{index}").glob("*.png"))
    return {"seconds": node["seconds"], "peak_mb": node.get("peak_rss_mb"), "start_mb": node.get("rss_at_start_mb"),
            "image": np.asarray(Image.open(image).convert("RGB"), dtype=np.int16)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", type=Path, required=True, help="shared/tools/comfyui/run_workflow.py")
    parser.add_argument("--pid", type=int, required=True, help="the ComfyUI server's PID (for peak RSS)")
    parser.add_argument("--photo", default="photo-256")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="realesrgan-x4plus.safetensors", help="a file in models/upscale_models")
    args = parser.parse_args()
    photo = photos.photo(args.photo)
    runs: dict[str, list[dict]] = {name: [] for name in WORKFLOWS}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        index = 0
        for _ in range(args.rounds):
            for name, workflow in WORKFLOWS.items():
                index += 1
                name_of_file, overrides = workflow
                chosen = (name_of_file, [*overrides, "--set", f"2.model_name={args.model}"])
                runs[name].append(run_once(args.client, chosen, photo, args.pid, work, index))
    base = statistics.median(r["seconds"] for r in runs["builtin"])
    for name, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        growth = max(r["peak_mb"] - r["start_mb"] for r in results if r["peak_mb"])
        print(f"{name:<14} {seconds:8.2f} s (median of {len(results)})  {base / seconds:5.2f}x the built-in node  "
              f"peak RSS +{growth:.0f} MB over the node's start")  # fmt: skip
    difference = np.abs(runs["builtin"][0]["image"] - runs["uprez"][0]["image"])
    print(
        f"outputs: max difference {difference.max()} levels, mean {difference.mean():.3f} "
        "(default settings of both: the built-in node cuts 512-px tiles with 32 px of overlap, uprez tiles "
        "with 48 px of context; neither mirrors a border)"
    )


if __name__ == "__main__":
    main()
