# -*- coding: utf-8 -*-
"""What the uprez filter and its batch procedure do, written once for GIMP 2.10 and 3.

Everything GIMP-specific goes through ``host`` (see uprez_gimp3_host / uprez_gimp2_host);
everything about the engine through uprez_engine. Python 2.7 and 3, standard library only.
"""

from __future__ import absolute_import, division, print_function

import os

import uprez_engine
from uprez_errors import CallingError

DEFAULT_MODELS = ["realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3-x4",
                  "realesr-general-x4v3", "realesrnet-x4plus", "realesrgan-x2plus", "esrgan-x4"]
DEVICES = ["auto", "cpu", "cuda", "mps"]
PRECISIONS = ["auto", "fp32", "fp16", "bf16"]
RESULTS = ["new-image", "new-layer", "resize-image"]
RESULT_LABELS = ["New image", "New layer, scaled to fit", "Resize the image in place"]
MIN_SCALE, MAX_SCALE = 0.25, 16.0  # the engine's own limit is 16
MAX_TILE = 16384
LOADABLE = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".xcf")


def model_choices(config=None):
    """Model ids for the dialog: those install.py recorded, else the built-in list."""
    if config and isinstance(config.get("models"), list) and config["models"]:
        return [str(m) for m in config["models"]]
    return list(DEFAULT_MODELS)


def validate(model, model_file, scale, tile, device, precision, result=0, models=None):
    """Checks every option (GIMP itself keeps a previous value on a bad one, silently)."""
    models = models or DEFAULT_MODELS
    model_file = (model_file or "").strip()
    if model_file:
        if not os.path.isfile(model_file):
            raise CallingError("model file %s does not exist" % model_file)
        chosen_model = model_file
    else:
        chosen_model = _choice("model", model, models)
    try:
        scale = float(scale)
        tile = int(tile)
    except (TypeError, ValueError):
        raise CallingError("scale must be a number and tile a whole number")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise CallingError("scale must be between %g and %g, not %g" % (MIN_SCALE, MAX_SCALE, scale))
    if not 0 <= tile <= MAX_TILE:
        raise CallingError("tile must be 0 (auto) or up to %d pixels, not %d" % (MAX_TILE, tile))
    return {"model": chosen_model, "scale": scale, "tile": tile,
            "device": _choice("device", device, DEVICES, allow_cuda_index=True),
            "precision": _choice("precision", precision, PRECISIONS),
            "result": _choice("result", result, RESULTS)}


def _choice(name, value, choices, allow_cuda_index=False):
    """gimpfu passes an option's index, GIMP 3 its name: accept both, check both."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(choices):
            return choices[value]
        raise CallingError("%s index %d is out of range 0..%d" % (name, value, len(choices) - 1))
    text = str(value).strip()
    if text in choices or (allow_cuda_index and text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise CallingError("unknown %s '%s': use one of %s" % (name, text, ", ".join(choices)))


def upscale_drawable(host, image, drawable, options, config):
    """Upscales the drawable (or its selected part); returns the image that holds the result."""
    if not host.is_supported(drawable):
        raise CallingError(host.unsupported_message(drawable))
    region = host.region(image, drawable)
    with uprez_engine.Workspace() as work:
        source = host.export(image, drawable, region, work.folder)
        target = work.path("result" + host.result_suffix)
        argv = uprez_engine.command(config, source, target, options)
        host.progress_init("Upscaling with uprez (%s)" % os.path.basename(options["model"]))
        uprez_engine.run(argv, on_event=lambda event: _show(host, event), should_cancel=host.cancelled,
                         cwd=work.folder)
        host.progress_update(1.0)
        if options["result"] == "new-image":
            return host.place_new_image(image, drawable, target)
        host.undo_start(image)
        try:
            if options["result"] == "new-layer":
                host.place_new_layer(image, drawable, region, target)
            else:
                host.place_resized(image, drawable, region, target, options["scale"])
        finally:
            host.undo_end(image)
    return image


def _show(host, event):
    kind = event.get("event")
    if kind == "start":
        tiles = event.get("tiles", 1)
        host.progress_text("uprez: %s, %d tile%s of %s px" % (
            event.get("device", ""), tiles, "" if tiles == 1 else "s", event.get("tile", "?")))
    elif kind == "progress" and event.get("total"):
        host.progress_update(float(event["done"]) / float(event["total"]))
    elif kind == "download":
        host.progress_text("uprez: downloading the model")


def upscale_folder(host, input_folder, output_folder, options, config):
    """Upscales every image GIMP can load in ``input_folder`` into ``output_folder``.

    Returns ``(written, failed, report)``; one bad file never stops the others.
    """
    input_folder, output_folder = (input_folder or "").strip(), (output_folder or "").strip()
    if not os.path.isdir(input_folder):
        raise CallingError("input folder %s does not exist" % (input_folder or "(empty)"))
    if not output_folder:
        raise CallingError("an output folder is needed")
    if os.path.abspath(output_folder) == os.path.abspath(input_folder):
        raise CallingError("the output folder must differ from the input folder (inputs are never overwritten)")
    if not os.path.isdir(output_folder):
        os.makedirs(output_folder)
    names = sorted(n for n in os.listdir(input_folder) if n.lower().endswith(LOADABLE))
    written, failures = 0, []
    for index, name in enumerate(names):
        host.progress_text("uprez: %s (%d of %d)" % (name, index + 1, len(names)))
        try:
            _upscale_file(host, os.path.join(input_folder, name), os.path.join(output_folder, name), options, config)
            written += 1
        except Exception as error:  # one bad file, whatever went wrong, never stops the batch
            failures.append("%s: %s" % (name, " ".join(str(error).split()) or type(error).__name__))
    return written, len(failures), "\n".join(failures)


def _upscale_file(host, source, target, options, config):
    if os.path.exists(target):
        raise CallingError("%s already exists" % target)
    image = host.load(source)
    try:
        drawable = host.single_drawable(image)
        upscale_drawable(host, image, drawable, dict(options, result="resize-image"), config)
        host.save(image, target)
    finally:
        host.delete(image)
