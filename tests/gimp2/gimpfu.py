"""A fake of GIMP 2.10's gimpfu that records every call (Python 2.7 and 3).

Only what uprez's GIMP 2.10 back-end touches is modelled: register/main, PF_* and enum
constants, ``gimp`` (progress, messages, displays) and ``pdb`` (any procedure; a few answer
with values, the rest return None). Images are small objects with ``layers``, ``width`` and
``height``; "PNG files" written by file_png_save2 are text files naming their image.
"""

from __future__ import absolute_import, print_function

PF_INT, PF_FLOAT, PF_STRING, PF_TOGGLE, PF_OPTION = 0, 1, 2, 3, 4
PF_IMAGE, PF_DRAWABLE, PF_DIRNAME, PF_SPINNER = 5, 6, 7, 8
RGB, GRAY, INDEXED = 0, 1, 2
EXPAND_AS_NECESSARY, CLIP_TO_IMAGE = 0, 1
LAYER_MODE_REPLACE = 62

REGISTERED = []
CALLS = []
MESSAGES = []
UNREADABLE = set()  # file names gimp_file_load refuses


def register(proc_name, blurb, help, author, copyright, date, label, imagetypes, params, results, function,
             menu=None, domain=None, on_query=None, on_run=None):
    REGISTERED.append({"name": proc_name, "label": label, "params": params, "results": results,
                       "function": function, "menu": menu, "imagetypes": imagetypes})


def main():
    CALLS.append(("main",))


class Layer(object):
    def __init__(self, width, height, indexed=False):
        self.width, self.height, self.indexed = width, height, indexed


class Image(object):
    def __init__(self, width, height, layers=1, indexed=False):
        self.width, self.height = width, height
        self.layers = [Layer(width, height, indexed) for _ in range(layers)]


class _Gimp(object):
    def progress_init(self, text):
        CALLS.append(("progress_init", text))

    def progress_update(self, fraction):
        CALLS.append(("progress_update", fraction))

    def message(self, text):
        MESSAGES.append(text)

    def Display(self, image):  # noqa: N802 - gimpfu's name
        CALLS.append(("Display", image))


class _Pdb(object):
    def __getattr__(self, name):
        def call(*args):
            CALLS.append((name,) + args)
            handler = type(self).__dict__.get("_" + name)  # not getattr: that would land here again
            return handler(self, *args) if handler else None
        return call

    def _gimp_drawable_mask_intersect(self, drawable):
        return True, 0, 0, drawable.width, drawable.height

    def _gimp_drawable_is_indexed(self, drawable):
        return drawable.indexed

    def _gimp_image_base_type(self, image):
        return RGB

    def _gimp_image_get_precision(self, image):
        return 150  # GIMP_PRECISION_U16_GAMMA

    def _gimp_image_new_with_precision(self, width, height, base, precision):
        return Image(width, height, layers=0)

    def _gimp_layer_new_from_drawable(self, drawable, image):
        return Layer(drawable.width, drawable.height)

    def _file_png_save2(self, image, drawable, path, raw, *options):
        with open(path, "w") as handle:
            handle.write("%d %d\n" % (drawable.width, drawable.height))

    def _gimp_file_load(self, path, raw):
        import os
        if os.path.basename(path) in UNREADABLE:
            raise RuntimeError("Procedure 'gimp-file-load' returned no return values")
        with open(path) as handle:
            width, height = [int(v) for v in handle.read().split()[:2]]
        return Image(width, height)

    def _gimp_image_scale(self, image, width, height):
        image.width, image.height = width, height

    def _gimp_drawable_offsets(self, drawable):
        return 0, 0

    def _gimp_image_get_item_position(self, image, item):
        return 0

    def _gimp_item_get_name(self, item):
        return "Background"

    def _gimp_image_merge_visible_layers(self, image, mode):
        return image.layers[0]

    def _gimp_image_get_active_drawable(self, image):
        return image.layers[0]

    def _gimp_file_save(self, image, drawable, path, raw):
        with open(path, "w") as handle:
            handle.write("%d %d\n" % (image.width, image.height))


gimp = _Gimp()
pdb = _Pdb()
