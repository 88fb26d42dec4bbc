# -*- coding: utf-8 -*-
"""gimpfu's ``register()``/``main()`` on GIMP 3's ``gi.repository.Gimp``.

Procedures are declared exactly as for GIMP 2.10's gimpfu (PF_* parameter tuples) and built
here as ``Gimp.ImageProcedure``/``Gimp.Procedure``; the registered function is called with
plain Python values as gimpfu would (an option's index, not its name). Numeric ranges are
declared wide on purpose: GIMP keeps the previous value on an out-of-range one without an
error, so the function validates and reports instead. Python 2.7-compatible syntax.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import sys
import traceback

import gi
from uprez_errors import Cancelled, CallingError

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402
from gi.repository import GLib, GObject  # noqa: E402

PF_INT, PF_FLOAT, PF_STRING, PF_TOGGLE, PF_OPTION = "int", "float", "string", "toggle", "option"
PF_IMAGE, PF_DRAWABLE, PF_DIRNAME, PF_FILENAME, PF_SPINNER = "image", "drawable", "dirname", "filename", "spinner"
WIDE_INT = (-(2 ** 31), 2 ** 31 - 1)
WIDE_FLOAT = (-1e12, 1e12)
READWRITE = GObject.ParamFlags.READWRITE
# Automated screenshots and tests of the dialog (Xvfb): save it as this PNG, then press OK.
SNAPSHOT_VARIABLE = "UPREZ_GIMP_DIALOG_SNAPSHOT"
SNAPSHOT_DELAY_MS = 1500

_SPECS = []


def register(proc_name, blurb, help, author, copyright, date, label, imagetypes, params, results,
             function, menu=None, domain=None, on_query=None, on_run=None):
    """gimpfu's signature; the procedure is created when GIMP asks for it."""
    _SPECS.append({"name": proc_name.replace("_", "-"), "blurb": blurb, "help": help, "author": author,
                   "copyright": copyright, "date": date, "label": label, "imagetypes": imagetypes,
                   "params": list(params), "results": list(results), "function": function, "menu": menu})


def nick(name):
    """PDB names allow a-z, 0-9 and '-': gimpfu's ``model_file`` becomes ``model-file``."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def option_pairs(extra):
    """An option list of labels or (nick, label) pairs, as (nick, label) pairs."""
    return [item if isinstance(item, tuple) else (nick(item), item) for item in extra]


class UprezPlugIn(Gimp.PlugIn):
    def do_query_procedures(self):
        return [spec["name"] for spec in _SPECS]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        spec = next(s for s in _SPECS if s["name"] == name)
        takes_image = [p[0] for p in spec["params"][:2]] == [PF_IMAGE, PF_DRAWABLE]
        if takes_image:
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, _run_image, spec)
            procedure.set_image_types(spec["imagetypes"])
            procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        else:
            procedure = Gimp.Procedure.new(self, name, Gimp.PDBProcType.PLUGIN, _run_plain, spec)
            procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                        Gimp.RunMode.NONINTERACTIVE, READWRITE)
            procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
        procedure.set_menu_label(spec["label"])
        if spec["menu"]:
            procedure.add_menu_path(spec["menu"])
        procedure.set_documentation(spec["blurb"], spec["help"], name)
        procedure.set_attribution(spec["author"], spec["copyright"], spec["date"])
        for param in spec["params"][2 if takes_image else 0:]:
            _add_argument(procedure, param)
        for result in spec["results"]:
            _add_return_value(procedure, result)
        return procedure


def _add_argument(procedure, param):
    kind, name, description, default = param[:4]
    key = nick(name)
    if kind in (PF_INT,):
        procedure.add_int_argument(key, description, description, WIDE_INT[0], WIDE_INT[1], default, READWRITE)
    elif kind in (PF_FLOAT, PF_SPINNER):
        procedure.add_double_argument(key, description, description, WIDE_FLOAT[0], WIDE_FLOAT[1],
                                      float(default), READWRITE)
    elif kind == PF_TOGGLE:
        procedure.add_boolean_argument(key, description, description, bool(default), READWRITE)
    elif kind == PF_OPTION:
        choice = Gimp.Choice.new()
        pairs = option_pairs(param[4])
        for index, (choice_nick, label) in enumerate(pairs):
            choice.add(choice_nick, index, label, "")
        procedure.add_choice_argument(key, description, description, choice, pairs[default][0], READWRITE)
    else:  # PF_STRING, PF_DIRNAME, PF_FILENAME: paths as strings, easy to pass from scripts
        procedure.add_string_argument(key, description, description, default or "", READWRITE)


def _add_return_value(procedure, result):
    kind, name, description = result[:3]
    key = nick(name)
    if kind == PF_IMAGE:
        procedure.add_image_return_value(key, description, description, True, READWRITE)
    elif kind == PF_INT:
        procedure.add_int_return_value(key, description, description, WIDE_INT[0], WIDE_INT[1], 0, READWRITE)
    else:
        procedure.add_string_return_value(key, description, description, "", READWRITE)


def _values(spec, config, skip):
    values = []
    for param in spec["params"][skip:]:
        key = nick(param[1])
        values.append(config.get_choice_id(key) if param[0] == PF_OPTION else config.get_property(key))
    return values


def _run_image(procedure, run_mode, image, drawables, config, spec):
    if len(drawables) != 1:
        return _error(procedure, Gimp.PDBStatusType.CALLING_ERROR, "select exactly one layer (%d selected)"
                      % len(drawables), run_mode)
    return _run(procedure, run_mode, config, spec, [image, drawables[0]], skip=2)


def _run_plain(procedure, config, spec):
    return _run(procedure, config.get_property("run-mode"), config, spec, [], skip=0)


def _run(procedure, run_mode, config, spec, leading, skip):
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog(procedure, config, spec):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        result = spec["function"](*(leading + _values(spec, config, skip)))
    except CallingError as error:
        return _error(procedure, Gimp.PDBStatusType.CALLING_ERROR, str(error), run_mode)
    except Cancelled:
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except Exception as error:  # noqa: BLE001 - every failure becomes a one-line GIMP error
        message = " ".join(str(error).split()) or type(error).__name__
        sys.stderr.write(traceback.format_exc())
        return _error(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, message, run_mode)
    return _success(procedure, spec, result)


def _error(procedure, status, message, run_mode):
    if run_mode == Gimp.RunMode.INTERACTIVE:
        Gimp.message("uprez: " + message)
    return procedure.new_return_values(status, GLib.Error.new_literal(GLib.quark_from_string("uprez"), message, 0))


def _success(procedure, spec, result):
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    results = spec["results"]
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    for index, (declared, value) in enumerate(zip(results, outputs)):
        kind = declared[0]
        gtype = Gimp.Image if kind == PF_IMAGE else (GObject.TYPE_INT if kind == PF_INT else GObject.TYPE_STRING)
        values.remove(index + 1)
        values.insert(index + 1, GObject.Value(gtype, value))
    return values


def _dialog(procedure, config, spec):
    """GIMP's own dialog for the procedure's arguments; True when the user pressed OK."""
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk
    if not Gtk.init_check(sys.argv)[0]:
        return True  # no display (gimp-console): run with the values given
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi
    GimpUi.init(spec["name"])
    dialog = GimpUi.ProcedureDialog.new(procedure, config, spec["label"].rstrip("."))
    dialog.fill(None)
    snapshot = os.environ.get(SNAPSHOT_VARIABLE)
    if snapshot:
        GLib.timeout_add(SNAPSHOT_DELAY_MS, _snapshot_and_accept, dialog, snapshot)
    try:
        return dialog.run()
    finally:
        dialog.destroy()


def _snapshot_and_accept(dialog, path):
    gi.require_version("Gdk", "3.0")
    from gi.repository import Gdk, Gtk
    window = dialog.get_window()
    Gdk.pixbuf_get_from_window(window, 0, 0, window.get_width(), window.get_height()).savev(path, "png", [], [])
    dialog.response(Gtk.ResponseType.OK)
    return False


def main():
    Gimp.main(UprezPlugIn.__gtype__, sys.argv)
