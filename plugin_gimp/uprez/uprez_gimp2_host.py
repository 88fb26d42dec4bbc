# -*- coding: utf-8 -*-
"""What the filter needs from GIMP 2.10, through gimpfu's ``gimp`` and ``pdb``. Python 2.7.

GIMP 2.10's Python pixel regions only see 8 bits, so pixels travel as PNG files that GIMP
itself exports and loads (16 bits per channel for high-bit-depth images, transparent colours
kept), and results come back as layers copied from the loaded file.
"""

from __future__ import absolute_import, division, print_function

import os

from uprez_errors import CallingError

PNG_NO_INTERLACE, PNG_COMPRESSION = 0, 6


class Gimp2Host(object):
    """``gimpfu`` is the module: its ``gimp``, ``pdb`` and enum constants are used."""

    result_suffix = ".png"

    def __init__(self, gimpfu):
        self.gimpfu, self.gimp, self.pdb = gimpfu, gimpfu.gimp, gimpfu.pdb

    def is_supported(self, drawable):
        return True

    def unsupported_message(self, drawable):
        return ""

    def region(self, image, drawable):
        non_empty, x, y, width, height = self.pdb.gimp_drawable_mask_intersect(drawable)
        if not non_empty or width < 1 or height < 1:
            raise CallingError("the selection does not touch the active layer")
        return x, y, width, height

    def export(self, image, drawable, region, folder):
        """The region as a PNG in ``folder``, cut from a copy of the layer in a scratch image."""
        x, y, width, height = region
        pdb = self.pdb
        base = self.gimpfu.RGB if pdb.gimp_drawable_is_indexed(drawable) else pdb.gimp_image_base_type(image)
        scratch = pdb.gimp_image_new_with_precision(width, height, base, pdb.gimp_image_get_precision(image))
        try:
            layer = pdb.gimp_layer_new_from_drawable(drawable, scratch)
            pdb.gimp_image_insert_layer(scratch, layer, None, 0)
            pdb.gimp_layer_set_offsets(layer, -x, -y)
            pdb.gimp_layer_resize_to_image_size(layer)
            path = os.path.join(folder, "source.png")
            # Last argument: keep the colour of fully transparent pixels (GIMP drops it by default).
            pdb.file_png_save2(scratch, layer, path, path, PNG_NO_INTERLACE, PNG_COMPRESSION,
                               0, 0, 0, 0, 0, 0, 1)
        finally:
            pdb.gimp_image_delete(scratch)
        return path

    def _result_layer(self, path, image):
        loaded = self.pdb.gimp_file_load(path, path)
        try:
            return self.pdb.gimp_layer_new_from_drawable(loaded.layers[0], image)
        finally:
            self.pdb.gimp_image_delete(loaded)

    def place_new_image(self, image, drawable, path):
        new = self.pdb.gimp_file_load(path, path)
        self.pdb.gimp_image_set_filename(new, "")
        try:
            self.gimp.Display(new)
        except RuntimeError:
            pass  # no displays in batch mode
        return new

    def place_new_layer(self, image, drawable, region, path):
        self._refuse_indexed(drawable)
        x, y, width, height = region
        layer = self._result_layer(path, image)
        position = self.pdb.gimp_image_get_item_position(image, drawable)
        self.pdb.gimp_image_insert_layer(image, layer, self.pdb.gimp_item_get_parent(drawable), position)
        self.pdb.gimp_item_set_name(layer, self.pdb.gimp_item_get_name(drawable) + " (uprez)")
        self.pdb.gimp_layer_scale(layer, width, height, False)
        offset_x, offset_y = self.pdb.gimp_drawable_offsets(drawable)
        self.pdb.gimp_layer_set_offsets(layer, offset_x + x, offset_y + y)

    def place_resized(self, image, drawable, region, path, scale):
        self._refuse_indexed(drawable)
        x, y, _, _ = region
        pdb = self.pdb
        pdb.gimp_image_scale(image, int(round(image.width * scale)), int(round(image.height * scale)))
        layer = self._result_layer(path, image)
        pdb.gimp_image_insert_layer(image, layer, pdb.gimp_item_get_parent(drawable),
                                    pdb.gimp_image_get_item_position(image, drawable))
        offset_x, offset_y = pdb.gimp_drawable_offsets(drawable)
        pdb.gimp_layer_set_offsets(layer, offset_x + int(round(x * scale)), offset_y + int(round(y * scale)))
        pdb.gimp_layer_set_mode(layer, self.gimpfu.LAYER_MODE_REPLACE)  # transparency replaces, not composites
        pdb.gimp_image_merge_down(image, layer, self.gimpfu.EXPAND_AS_NECESSARY)

    def _refuse_indexed(self, drawable):
        if self.pdb.gimp_drawable_is_indexed(drawable):
            raise CallingError("an indexed image can only be upscaled into a new image "
                               "(or convert it first: Image > Mode > RGB)")

    def undo_start(self, image):
        self.pdb.gimp_image_undo_group_start(image)

    def undo_end(self, image):
        self.pdb.gimp_image_undo_group_end(image)

    def progress_init(self, text):
        self.gimp.progress_init(text)

    def progress_update(self, fraction):
        self.gimp.progress_update(min(max(fraction, 0.0), 1.0))

    def progress_text(self, text):
        self.pdb.gimp_progress_set_text(text)

    def cancelled(self):
        return False  # GIMP ends a plug-in whose progress is cancelled; the engine then stops too

    def message(self, text):
        self.gimp.message(text)

    def load(self, path):
        image = self.pdb.gimp_file_load(path, path)  # raises RuntimeError when GIMP cannot open it
        if image is None:
            raise RuntimeError("GIMP cannot open it")
        return image

    def single_drawable(self, image):
        if len(image.layers) == 1:
            return image.layers[0]
        return self.pdb.gimp_image_merge_visible_layers(image, self.gimpfu.CLIP_TO_IMAGE)

    def save(self, image, path):
        self.pdb.gimp_file_save(image, self.pdb.gimp_image_get_active_drawable(image), path, path)

    def delete(self, image):
        self.pdb.gimp_image_delete(image)
