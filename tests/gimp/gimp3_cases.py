# A python-fu-eval snippet for the real GIMP 3 (run by tests/test_gimp3.py through run-batch.sh).
# Reads /io/cases.json, runs python-fu-uprez or python-fu-uprez-batch once per case, and writes
# what came out to /io/report.json, with the result's raw pixels as /io/<case>.npy.
import json

import numpy

pdb = Gimp.get_pdb()
SAMPLES = {"u8": numpy.uint8, "u16": numpy.dtype("<u2"), "float": numpy.dtype("<f4")}


def pixels_of(image, drawable):
    precision = image.get_precision().value_nick
    sample = "u8" if precision.startswith("u8") else ("u16" if precision.startswith("u16") else "float")
    gray, alpha = drawable.is_gray(), drawable.has_alpha()
    babl = ("Y'" if gray else "R'G'B'") + ("A" if alpha else "") + " " + sample
    width, height = drawable.get_width(), drawable.get_height()
    data = drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, width, height), 1.0, babl, Gegl.AbyssPolicy.CLAMP)
    channels = (1 if gray else 3) + (1 if alpha else 0)
    return numpy.frombuffer(bytes(data), dtype=SAMPLES[sample]).reshape(height, width, channels)


def run_filter(case):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(case["input"]))
    if case.get("precision"):
        image.convert_precision(getattr(Gimp.Precision, case["precision"]))
        numpy.save("/io/%s-input.npy" % case["name"], pixels_of(image, image.get_selected_drawables()[0]))
    if case.get("selection"):
        x, y, w, h = case["selection"]
        image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    proc = pdb.lookup_procedure("python-fu-uprez")
    cfg = proc.create_config()
    cfg.set_property("run-mode", getattr(Gimp.RunMode, case.get("run_mode", "NONINTERACTIVE")))
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", image.get_selected_drawables())
    for key, value in case["options"].items():
        cfg.set_property(key, value)
    layers_before = len(image.get_layers())
    result = proc.run(cfg)
    report = {"status": result.index(0).value_nick}
    if report["status"] != "success":
        report["error"] = pdb.get_last_error()
        image.delete()
        return report
    out = result.index(1)
    if out != image:
        drawable = out.get_layers()[0]
    elif case["options"].get("result") == "new-layer":
        drawable = image.get_layers()[0]
    else:
        drawable = image.get_selected_drawables()[0]
    offsets = drawable.get_offsets()
    report.update(width=out.get_width(), height=out.get_height(), precision=out.get_precision().value_nick,
                  new_image=out != image, layers=len(out.get_layers()), layers_before=layers_before,
                  drawable_size=[drawable.get_width(), drawable.get_height()], offsets=[offsets[1], offsets[2]],
                  undo_enabled=out.undo_is_enabled())
    numpy.save("/io/%s.npy" % case["name"], pixels_of(out, drawable))
    if case.get("export"):
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, out, Gio.File.new_for_path(case["export"]), None)
    if out != image:
        out.delete()
    image.delete()
    return report


def run_batch(case):
    proc = pdb.lookup_procedure("python-fu-uprez-batch")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    for key, value in case["options"].items():
        cfg.set_property(key, value)
    result = proc.run(cfg)
    report = {"status": result.index(0).value_nick}
    if report["status"] == "success":
        report.update(written=result.index(1), failed=result.index(2), report=result.index(3))
    else:
        report["error"] = pdb.get_last_error()
    return report


def scale_with_gimp(case):
    """GIMP's own Image > Scale Image, for the 'before' half of a before/after pair."""
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(case["input"]))
    image.scale(image.get_width() * case["factor"], image.get_height() * case["factor"])
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(case["export"]), None)
    image.delete()
    return {"status": "success"}


reports = {}
for case in json.load(open("/io/cases.json")):
    runner = run_batch if case.get("batch") else (scale_with_gimp if case.get("factor") else run_filter)
    reports[case["name"]] = runner(case)
json.dump(reports, open("/io/report.json", "w"), indent=1)
