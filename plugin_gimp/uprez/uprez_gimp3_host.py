# -*- coding: utf-8 -*-
"""What the filter needs from GIMP 3: pixels in and out at the image's own precision.

Pixels travel as raw .npy files read from and written to GEGL buffers in perceptual
(gamma-encoded) formats, so 8-bit, 16-bit and float images keep their depth and linear-light
images are converted by babl both ways. Python 2.7-compatible syntax.
"""

from __future__ import absolute_import, division, print_function

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio, GLib  # noqa: E402

import uprez_npy  # noqa: E402
from uprez_errors import CallingError  # noqa: E402

SAMPLE_BYTES = uprez_npy.SAMPLE_BYTES


class Gimp3Host(object):
    result_suffix = ".npy"

    # --- reading ------------------------------------------------------------------------

    def is_supported(self, drawable):
        return True  # indexed layers are read as RGB; in-place results on them are refused below

    def unsupported_message(self, drawable):
        return ""

    def region(self, image, drawable):
        non_empty, x, y, width, height = drawable.mask_intersect()
        if not non_empty or width < 1 or height < 1:
            raise CallingError("the selection does not touch the active layer")
        return x, y, width, height

    def export(self, image, drawable, region, folder):
        x, y, width, height = region
        babl, channels, sample = pixel_format(image, drawable)
        data = drawable.get_buffer().get(Gegl.Rectangle.new(x, y, width, height), 1.0, babl,
                                         Gegl.AbyssPolicy.CLAMP)
        path = folder + "/source.npy"
        uprez_npy.write(path, bytes(data), width, height, channels, sample)
        return path

    # --- placing the result -----------------------------------------------------------

    def place_new_image(self, image, drawable, path):
        data, width, height, channels, sample = uprez_npy.read(path)
        indexed = drawable.is_indexed()
        base = Gimp.ImageBaseType.RGB if indexed else image.get_base_type()
        precision = Gimp.Precision.U8_NON_LINEAR if indexed else image.get_precision()
        new = Gimp.Image.new_with_precision(width, height, base, precision)
        new.undo_disable()
        layer = Gimp.Layer.new(new, drawable.get_name(), width, height, _layer_type(base, channels), 100.0,
                               Gimp.LayerMode.NORMAL)
        new.insert_layer(layer, None, 0)
        _write(layer, 0, 0, width, height, channels, sample, data)
        profile = image.get_color_profile()
        if profile is not None and not indexed:
            new.set_color_profile(profile)
        new.undo_enable()
        try:
            Gimp.Display.new(new)
        except TypeError:
            pass  # no displays in gimp-console (batch mode)
        return new

    def place_new_layer(self, image, drawable, region, path):
        self._refuse_indexed(drawable)
        data, width, height, channels, sample = uprez_npy.read(path)
        x, y, region_width, region_height = region
        layer = Gimp.Layer.new(image, drawable.get_name() + " (uprez)", width, height, drawable.type(), 100.0,
                               Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, drawable.get_parent(), image.get_item_position(drawable))
        _write(layer, 0, 0, width, height, channels, sample, data)
        layer.scale(region_width, region_height, False)  # scaled to fit where it came from
        offset_ok, offset_x, offset_y = drawable.get_offsets()
        layer.set_offsets(offset_x + x, offset_y + y)

    def place_resized(self, image, drawable, region, path, scale):
        self._refuse_indexed(drawable)
        data, width, height, channels, sample = uprez_npy.read(path)
        x, y, _, _ = region
        image.scale(int(round(image.get_width() * scale)), int(round(image.get_height() * scale)))
        left, top = int(round(x * scale)), int(round(y * scale))
        # Start the shadow from the (GIMP-scaled) layer so merge_shadow never brings in unwritten pixels.
        non_empty, mx, my, mw, mh = drawable.mask_intersect()
        babl, _, _ = pixel_format(image, drawable)
        shadow = drawable.get_shadow_buffer()
        rectangle = Gegl.Rectangle.new(mx, my, mw, mh)
        shadow.set(rectangle, babl, drawable.get_buffer().get(rectangle, 1.0, babl, Gegl.AbyssPolicy.CLAMP))
        box = _clip(left, top, width, height, drawable.get_width(), drawable.get_height())
        if box is not None:
            piece = _crop_rows(data, width, channels * SAMPLE_BYTES[sample], box, left, top)
            shadow.set(Gegl.Rectangle.new(box[0], box[1], box[2], box[3]), babl, piece)
        shadow.flush()
        drawable.merge_shadow(True)
        drawable.update(mx, my, mw, mh)

    def _refuse_indexed(self, drawable):
        if drawable.is_indexed():
            raise CallingError("an indexed image can only be upscaled into a new image "
                               "(or convert it first: Image > Mode > RGB)")

    # --- GIMP services ------------------------------------------------------------------

    def undo_start(self, image):
        image.undo_group_start()

    def undo_end(self, image):
        image.undo_group_end()

    def progress_init(self, text):
        Gimp.progress_init(text)

    def progress_update(self, fraction):
        Gimp.progress_update(min(max(fraction, 0.0), 1.0))

    def progress_text(self, text):
        Gimp.progress_set_text(text)

    def cancelled(self):
        return False  # GIMP ends a plug-in whose progress is cancelled; the engine then stops too

    def message(self, text):
        Gimp.message(text)

    # --- batch --------------------------------------------------------------------------

    def load(self, path):
        try:
            image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
        except GLib.Error as error:
            raise RuntimeError("GIMP cannot open it: %s" % error.message)
        if image is None:
            raise RuntimeError("GIMP cannot open it")
        return image

    def single_drawable(self, image):
        layers = image.get_layers()
        if len(layers) == 1:
            return layers[0]
        return image.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)

    def save(self, image, path):
        if not Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path), None):
            raise RuntimeError("GIMP could not export %s" % path)

    def delete(self, image):
        image.delete()


def pixel_format(image, drawable):
    """(babl format name, channels, sample) to read this drawable at its own depth."""
    precision = image.get_precision().value_nick  # e.g. 'u16-non-linear', 'float-linear'
    sample = "u8" if precision.startswith("u8") or drawable.is_indexed() else (
        "u16" if precision.startswith("u16") else "float")
    gray = drawable.is_gray()
    alpha = drawable.has_alpha()
    model = ("Y'" if gray else "R'G'B'") + ("A" if alpha else "")
    return "%s %s" % (model, sample), (1 if gray else 3) + (1 if alpha else 0), sample


def _layer_type(base, channels):
    alpha = channels in (2, 4)
    if base == Gimp.ImageBaseType.GRAY:
        return Gimp.ImageType.GRAYA_IMAGE if alpha else Gimp.ImageType.GRAY_IMAGE
    return Gimp.ImageType.RGBA_IMAGE if alpha else Gimp.ImageType.RGB_IMAGE


def _write(layer, x, y, width, height, channels, sample, data):
    model = ("Y'" if channels <= 2 else "R'G'B'") + ("A" if channels in (2, 4) else "")
    expected = width * height * channels * SAMPLE_BYTES[sample]
    if len(data) != expected:  # GEGL would print a warning and write nothing
        raise RuntimeError("engine returned %d bytes, expected %d" % (len(data), expected))
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(x, y, width, height), "%s %s" % (model, sample), data)
    buffer.flush()
    layer.update(x, y, width, height)


def _clip(left, top, width, height, limit_width, limit_height):
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, limit_width), min(top + height, limit_height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _crop_rows(data, width, pixel_bytes, box, left, top):
    """The bytes of ``box`` out of a ``width``-wide block placed at (left, top)."""
    x0, y0, box_width, box_height = box
    if (x0, y0, box_width) == (left, top, width):
        return data[: box_height * width * pixel_bytes]
    row = width * pixel_bytes
    start = (x0 - left) * pixel_bytes
    return b"".join(data[(y - top) * row + start:(y - top) * row + start + box_width * pixel_bytes]
                    for y in range(y0, y0 + box_height))
