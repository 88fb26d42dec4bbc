"""``uprez upscale``: files, folders and globs through one model."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import torch

from ..engine.precision import cpu_has_native_bf16
from ..engine.upscaler import DEFAULT_PREPAD, Progress, Upscaler
from ..errors import Cancelled, DeviceError, DownloadError, ModelNotFoundError, UprezError, WeightFileError
from ..imageio import FORMATS, Picture, check_target, read_image
from ..models import DEFAULT_MODEL, open_model
from ..pipeline import ALPHA_MODES, Stage, output_size, upscale_picture
from ._command import Command, ExitStatus
from .inputs import Job, plan_jobs, scale_suffix
from .report import HumanReporter, JsonReporter, Reporter, download_reporter, internal_error
from .writes import Tally, Writes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("-o", "--output", help="output file (one input) or folder")
    parser.add_argument("-m", "--model", default=None, help=f"model id or weight file (default {DEFAULT_MODEL})")
    parser.add_argument(
        "-s", "--scale", type=float, default=None, help="output scale, any value (default: the model's)"
    )
    parser.add_argument(
        "--denoise",
        type=float,
        default=None,
        metavar="0..1",
        help="realesr-general-x4v3 only: 0 keeps grain, 1 denoises most (default 0.5, as Real-ESRGAN)",
    )
    parser.add_argument("--tile", default="auto", help="tile side in input pixels, or auto (from free memory)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    parser.add_argument(
        "--compile",
        action="store_true",
        help="on CUDA, torch.compile what uprez's own kernels do not cover (RRDBNet in bf16): seconds once per run",
    )
    parser.add_argument(
        "--prepad",
        type=int,
        default=None,
        help=f"pixels mirrored around the image (default: as the model's original tool: {DEFAULT_PREPAD} for "
        "Real-ESRGAN, 24 for neural-enhance, 0 for the others)",
    )
    parser.add_argument("--alpha", default="resize", choices=ALPHA_MODES, help="how transparency is upscaled")
    parser.add_argument("--format", choices=sorted({s.lstrip(".") for s in FORMATS}), help="output file type")
    parser.add_argument("--suffix", default=None, help="added to output names (default _x<scale>)")
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files, inputs included")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--no-download", action="store_true", help="never download a model")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout, for programs")
    parser.add_argument(
        "--watch-stdin", action="store_true", help="stop between tiles once stdin closes (the caller has gone)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def run(args: argparse.Namespace) -> ExitStatus:
    reporter: Reporter = JsonReporter() if args.json else HumanReporter(quiet=args.quiet)
    try:
        tile = _parse_tile(args.tile)
        if args.threads:
            torch.set_num_threads(args.threads)
        allow_download = False if args.no_download else None
        model = open_model(
            args.model,
            allow_download=allow_download,
            progress=download_reporter(reporter),
            notice=reporter.message,
            denoise=args.denoise,
        )
        upscaler = Upscaler(
            model, device=args.device, precision=args.precision, tile=tile, prepad=args.prepad, compile=args.compile
        )
    except (ModelNotFoundError, WeightFileError, DownloadError) as error:
        reporter.event("error", input=None, message=str(error))
        return ExitStatus.MODEL
    except DeviceError as error:
        reporter.event("error", input=None, message=str(error))
        return ExitStatus.DEVICE
    except UprezError as error:
        reporter.event("error", input=None, message=str(error))
        return ExitStatus.USAGE
    scale = upscaler.scale if args.scale is None else args.scale
    suffix = args.suffix if args.suffix is not None else scale_suffix(scale)
    extension = f".{args.format}" if args.format else None
    jobs = plan_jobs(args.inputs, output=args.output, recursive=args.recursive, suffix=suffix, extension=extension)
    reporter.message(f"model {model.describe()} on {upscaler.describe()}")
    if args.compile and not upscaler.compiled:
        reporter.message("--compile has no effect here: it needs CUDA with Triton (the run goes on uncompiled)")
    if args.precision == "auto" and upscaler.device.type == "cpu" and cpu_has_native_bf16():
        reporter.message("this CPU runs bf16 natively: --precision bf16 is about 4x faster, a few levels from fp32")
    args.cancel = _stdin_watch() if args.watch_stdin else None
    return _run_batch(jobs, upscaler, args, scale, reporter)


def _stdin_watch() -> threading.Event:
    """An event set when stdin reaches end of file: a program that started us has exited or
    been killed (GIMP kills a plug-in whose progress the user cancels), so we stop too."""
    gone = threading.Event()

    def watch() -> None:
        # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside Python's
        # buffered reader makes the interpreter abort at exit.
        try:
            while os.read(stdin_fd, 4096):
                pass
        except OSError:
            pass
        gone.set()

    stdin_fd = sys.stdin.fileno()

    threading.Thread(target=watch, name="uprez-stdin-watch", daemon=True).start()
    return gone


def _parse_tile(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise UprezError(f"--tile must be auto or a positive number of pixels, not '{text}'")
    return int(text)


def _run_batch(
    jobs: list[Job], upscaler: Upscaler, args: argparse.Namespace, scale: float, reporter: Reporter
) -> ExitStatus:
    started = time.monotonic()
    inputs = {job.input.resolve() for job in jobs}
    tally = Tally()
    # On a GPU the upscale takes about as long as encoding its result, or less: each file is
    # written while the next is upscaled. On a CPU the two would share the same cores.
    writes = Writes(reporter, tally, in_background=upscaler.device.type != "cpu")
    try:
        for index, job in enumerate(jobs, 1):
            try:
                if args.cancel is not None and args.cancel.is_set():
                    raise Cancelled()
                if job.problem or job.output is None:
                    raise UprezError(f"{job.input}: {job.problem}")
                if job.output.resolve() in inputs and not args.overwrite:
                    raise UprezError(f"{job.output}: is one of the inputs", hint="use --overwrite to replace it")
                began = time.monotonic()
                result = _upscale_job(job, index, len(jobs), upscaler, args, scale, reporter)
                writes.add(job.input, job.output, result, began, overwrite=args.overwrite)
            except (KeyboardInterrupt, Cancelled):
                writes.settle()  # the file before this one is finished: it is written, not dropped
                reporter.event("error", input=str(job.input), message="interrupted")
                seconds = round(time.monotonic() - started, 3)
                reporter.event("summary", done=tally.done, failed=tally.failed + 1, seconds=seconds)
                return ExitStatus.INTERRUPTED
            except UprezError as error:
                tally.failed += 1
                reporter.event("error", input=str(job.input), message=str(error))
            except Exception as error:
                tally.failed += 1
                reporter.event("error", input=str(job.input), message=internal_error(job.input, error))
    finally:
        writes.close()
    reporter.event("summary", done=tally.done, failed=tally.failed, seconds=round(time.monotonic() - started, 3))
    return ExitStatus.FILES_FAILED if tally.failed else ExitStatus.OK


def _upscale_job(
    job: Job, index: int, count: int, upscaler: Upscaler, args: argparse.Namespace, scale: float, reporter: Reporter
) -> Picture:
    assert job.output is not None
    if job.output.exists() and not args.overwrite:
        raise UprezError(f"{job.output}: already exists", hint="use --overwrite to replace it")
    picture = read_image(job.input)
    check_target(job.output, picture, overwrite=args.overwrite)  # refuse before minutes of work
    out_height, out_width = output_size(picture.height, picture.width, scale)
    plan = upscaler.plan(picture.height, picture.width)
    reporter.event(
        "start", input=str(job.input), output=str(job.output), index=index, count=count,
        width=picture.width, height=picture.height, out_width=out_width, out_height=out_height,
        tile=plan.tile, tiles=plan.tiles, device=plan.device, precision=plan.precision,
    )  # fmt: skip

    def on_progress(stage: Stage) -> None:
        tiles: Progress = stage.tiles
        reporter.event("progress", input=str(job.input), stage=stage.name, done=tiles.done, total=tiles.total)

    return upscale_picture(picture, upscaler, scale=scale, alpha=args.alpha, progress=on_progress, cancel=args.cancel)


COMMAND = Command("upscale", "upscale image files, folders or globs", add_arguments, run)
