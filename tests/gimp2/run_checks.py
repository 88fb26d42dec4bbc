"""Checks uprez's GIMP 2.10 back-end against the recording fake gimpfu; Python 2.7 and 3.

    python run_checks.py        prints one line per check and exits 1 if any failed

tests/test_gimp2.py runs it under this machine's Python 3 and under a real Python 2.7.
"""

from __future__ import absolute_import, print_function

import json
import os
import shutil
import stat
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.join(HERE, "..", "..", "plugin_gimp", "uprez")
sys.path[:0] = [HERE, PLUGIN]  # a test runner: the fake gimpfu first, then the plug-in's own folder

import gimpfu  # noqa: E402  (the fake)
import uprez_engine  # noqa: E402

SCRATCH = tempfile.mkdtemp(prefix="uprez-gimp2-checks-")
CONFIG = os.path.join(SCRATCH, "uprez.json")
LOG = os.path.join(SCRATCH, "engine.log")


def make_config():
    engine = os.path.join(SCRATCH, "python")
    with open(engine, "w") as handle:
        handle.write("#!/bin/sh\nexec '%s' '%s' \"$@\"\n" % (sys.executable, os.path.join(HERE, "fake_engine.py")))
    os.chmod(engine, os.stat(engine).st_mode | stat.S_IEXEC)
    with open(CONFIG, "w") as handle:
        json.dump({"python": engine, "models": ["realesrgan-x4plus", "broken-model"]}, handle)
    os.environ["FAKE_ENGINE_LOG"] = LOG


make_config()
uprez_engine.config_path = lambda: CONFIG
import uprez  # noqa: E402,F401  (registers both procedures with the fake)

FILTER = [p for p in gimpfu.REGISTERED if p["name"] == "python-fu-uprez"][0]
BATCH = [p for p in gimpfu.REGISTERED if p["name"] == "python-fu-uprez-batch"][0]
CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


def names(calls=None):
    return [call[0] for call in (gimpfu.CALLS if calls is None else calls)]


def run_filter(*options):
    del gimpfu.CALLS[:], gimpfu.MESSAGES[:]
    image = gimpfu.Image(40, 30)
    return image, FILTER["function"](image, image.layers[0], *options)


@check
def registration_is_gimpfu_style():
    assert [p["name"] for p in gimpfu.REGISTERED] == ["python-fu-uprez", "python-fu-uprez-batch"]
    assert FILTER["menu"] == "<Image>/Filters/Enhance" and FILTER["label"] == "Upscale (uprez)..."
    assert [p[1] for p in FILTER["params"]] == ["image", "drawable", "model", "model_file", "scale", "tile",
                                                "device", "precision", "result"]
    options = [p for p in FILTER["params"] if p[0] == gimpfu.PF_OPTION]
    assert all(all(not isinstance(label, tuple) for label in p[4]) for p in options)  # labels only
    assert options[0][4] == ["realesrgan-x4plus", "broken-model"]  # the models install.py recorded
    assert names(gimpfu.CALLS[:1]) == ["main"] or "main" in names()


@check
def new_image_goes_through_png_files_and_the_engine():
    image, result = run_filter(0, "", 2.0, 0, 0, 0, 0)
    assert (result.width, result.height) == (80, 60)
    saves = [c for c in gimpfu.CALLS if c[0] == "file_png_save2"]
    assert len(saves) == 1 and saves[0][-1] == 1  # colours of transparent pixels kept
    argv = json.loads(open(LOG).read().splitlines()[-1])
    options = argv[argv.index("upscale"):]
    assert options[options.index("-m") + 1] == "realesrgan-x4plus" and "--watch-stdin" in options
    assert [c[1] for c in gimpfu.CALLS if c[0] == "progress_update"] == [0.5, 1.0, 1.0]
    assert "gimp_image_undo_group_start" not in names()
    assert not os.path.exists(os.path.dirname(argv[argv.index("upscale") + 1]))  # workspace removed


@check
def new_layer_is_one_undo_step_scaled_to_fit():
    image, result = run_filter(0, "", 2.0, 0, 0, 0, 1)
    calls = names()
    start, end = calls.index("gimp_image_undo_group_start"), calls.index("gimp_image_undo_group_end")
    between = calls[start:end]
    assert "gimp_image_insert_layer" in between and "gimp_layer_scale" in between
    scale = [c for c in gimpfu.CALLS if c[0] == "gimp_layer_scale"][0]
    assert scale[2:4] == (40, 30)
    assert result is image


@check
def resize_in_place_replaces_with_the_upscaled_layer():
    image, result = run_filter(0, "", 2.0, 0, 0, 0, 2)
    scale = [c for c in gimpfu.CALLS if c[0] == "gimp_image_scale"][0]
    assert scale[2:] == (80, 60)
    mode = [c for c in gimpfu.CALLS if c[0] == "gimp_layer_set_mode"][0]
    assert mode[2] == gimpfu.LAYER_MODE_REPLACE
    calls = names()
    assert calls.index("gimp_image_undo_group_start") < calls.index("gimp_image_merge_down") < calls.index(
        "gimp_image_undo_group_end")


@check
def bad_values_are_refused_with_a_message():
    for options, words in (((0, "", 100.0, 0, 0, 0, 0), "scale must be between"),
                           ((0, "", 2.0, -1, 0, 0, 0), "tile must be"),
                           ((0, "", 2.0, 0, 9, 0, 0), "device index 9"),
                           ((0, "/nowhere/model.pth", 2.0, 0, 0, 0, 0), "does not exist")):
        try:
            run_filter(*options)
        except RuntimeError as error:
            assert words in str(error), str(error)
            assert gimpfu.MESSAGES and words in gimpfu.MESSAGES[-1]
        else:
            raise AssertionError("accepted %r" % (options,))


@check
def engine_errors_arrive_as_their_one_line():
    try:
        run_filter(1, "", 2.0, 0, 0, 0, 0)
    except RuntimeError as error:
        assert str(error) == "broken-model: no known architecture"
    else:
        raise AssertionError("the engine's failure was not reported")


@check
def indexed_layers_are_refused_in_place():
    del gimpfu.CALLS[:]
    image = gimpfu.Image(10, 10, indexed=True)
    try:
        FILTER["function"](image, image.layers[0], 0, "", 2.0, 0, 0, 0, 1)
    except RuntimeError as error:
        assert "indexed" in str(error)
    else:
        raise AssertionError("indexed layer accepted")


@check
def missing_config_says_what_to_run():
    uprez_engine.config_path = lambda: os.path.join(SCRATCH, "missing.json")
    try:
        run_filter(0, "", 2.0, 0, 0, 0, 0)
    except RuntimeError as error:
        assert "install.py gimp" in str(error)
    else:
        raise AssertionError("ran without a config")
    finally:
        uprez_engine.config_path = lambda: CONFIG


@check
def batch_reports_failures_and_goes_on():
    source, target = os.path.join(SCRATCH, "in"), os.path.join(SCRATCH, "out")
    os.mkdir(source)
    for name in ("a.png", "b.jpg", "broken.png", "notes.txt"):
        with open(os.path.join(source, name), "w") as handle:
            handle.write("20 10\n")
    gimpfu.UNREADABLE.add("broken.png")
    written, failed, report = BATCH["function"](source, target, 0, "", 3.0, 0, 0, 0)
    assert (written, failed) == (2, 1), (written, failed, report)
    assert report.startswith("broken.png:")
    assert sorted(os.listdir(target)) == ["a.png", "b.jpg"]
    assert open(os.path.join(target, "a.png")).read().split() == ["60", "30"]
    try:
        BATCH["function"](source, source, 0, "", 3.0, 0, 0, 0)
    except RuntimeError as error:
        assert "must differ" in str(error)
    else:
        raise AssertionError("wrote into the input folder")


def main():
    failed = 0
    for function in CHECKS:
        try:
            function()
            print("ok   %s" % function.__name__)
        except Exception:
            failed += 1
            print("FAIL %s\n%s" % (function.__name__, traceback.format_exc()))
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print("%d passed, %d failed (Python %s)" % (len(CHECKS) - failed, failed, sys.version.split()[0]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
