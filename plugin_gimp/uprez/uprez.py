#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""uprez for GIMP: Filters > Enhance > Upscale (uprez)... and a folder batch procedure.

One source for GIMP 3 and GIMP 2.10, written against uprez_gimpfu (a gimpfu-compatible
shim). GIMP never imports torch: the work is done by ``python -m uprez`` in the torch
environment named in uprez.json beside this file. Python 2.7 and 3, standard library only.
"""

from __future__ import absolute_import, division, print_function

import uprez_engine
import uprez_filter
from uprez_gimpfu import (PF_DIRNAME, PF_DRAWABLE, PF_FLOAT, PF_IMAGE, PF_INT, PF_OPTION, PF_STRING, host, main,
                          register)

AUTHOR = "uprez developers"
COPYRIGHT = "uprez developers, BSD-3-Clause"
DATE = "2026"


def _known_models():
    try:
        return uprez_filter.model_choices(uprez_engine.load_config())
    except uprez_engine.EngineError:
        return uprez_filter.model_choices()  # not set up yet: the run explains what to do


MODELS = _known_models()
ENGINE_OPTIONS = [
    (PF_OPTION, "model", "Model", 0, [(m, m) for m in MODELS]),
    (PF_STRING, "model_file", "Model file (instead of the model above)", ""),
    (PF_FLOAT, "scale", "Scale (0.25 to 16, any factor)", 4.0),
    (PF_INT, "tile", "Tile size in pixels (0 = from free memory)", 0),
    (PF_OPTION, "device", "Device", 0, [(d, d) for d in uprez_filter.DEVICES]),
    (PF_OPTION, "precision", "Precision", 0, [(p, p) for p in uprez_filter.PRECISIONS]),
]


def upscale(image, drawable, model, model_file, scale, tile, device, precision, result):
    """The menu filter: the active layer (or the selection's bounds) through an uprez model."""
    config = uprez_engine.load_config()
    options = uprez_filter.validate(model, model_file, scale, tile, device, precision, result,
                                    uprez_filter.model_choices(config))
    return uprez_filter.upscale_drawable(host, image, drawable, options, config)


def upscale_folder(input_folder, output_folder, model, model_file, scale, tile, device, precision):
    """Every image GIMP can open in one folder, upscaled into another; failures are listed."""
    config = uprez_engine.load_config()
    options = uprez_filter.validate(model, model_file, scale, tile, device, precision, 0,
                                    uprez_filter.model_choices(config))
    return uprez_filter.upscale_folder(host, input_folder, output_folder, options, config)


register(
    "python-fu-uprez",
    "Upscale with a classic super-resolution model (uprez)",
    "Runs the active layer, or the bounds of the selection, through Real-ESRGAN, ESRGAN or another "
    "uprez model, at any scale, keeping transparency and bit depth. The result goes to a new image, "
    "a new layer scaled to fit, or replaces the layer in the image resized by the scale.",
    AUTHOR, COPYRIGHT, DATE,
    "Upscale (uprez)...",
    "*",
    [(PF_IMAGE, "image", "Input image", None), (PF_DRAWABLE, "drawable", "Input layer", None)]
    + ENGINE_OPTIONS
    + [(PF_OPTION, "result", "Result", 0, list(zip(uprez_filter.RESULTS, uprez_filter.RESULT_LABELS)))],
    [(PF_IMAGE, "result_image", "The image holding the result")],
    upscale,
    menu="<Image>/Filters/Enhance",
)

register(
    "python-fu-uprez-batch",
    "Upscale every image in a folder (uprez)",
    "Opens each image GIMP can read in the input folder, upscales it (all visible layers merged) "
    "and exports it under the same name into the output folder. A file that fails is listed in "
    "the report and the others go on.",
    AUTHOR, COPYRIGHT, DATE,
    "Upscale a Folder (uprez)...",
    "",
    [(PF_DIRNAME, "input_folder", "Input folder", ""), (PF_DIRNAME, "output_folder", "Output folder", "")]
    + ENGINE_OPTIONS,
    [(PF_INT, "written", "Images written"), (PF_INT, "failed", "Images that failed"),
     (PF_STRING, "report", "One line per failed image")],
    upscale_folder,
    menu="<Image>/File/Create",
)

main()
