# -*- coding: utf-8 -*-
"""A gimpfu-compatible shim: ``register``, ``main``, ``PF_*`` and a ``host`` for the filter.

On GIMP 2.10 (Python 2.7) it is the real gimpfu; on GIMP 3 (Python 3, no gimpfu) it is
uprez_gimp3 over ``gi.repository.Gimp``. Option lists may be (name, label) pairs: GIMP 3
uses the names in scripts, gimpfu only shows the labels. Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

from uprez_errors import Cancelled, CallingError

try:
    import gimpfu
except ImportError:  # GIMP 3: no gimpfu, and gi.repository.Gimp is 3.0
    gimpfu = None

if gimpfu is not None:
    from gimpfu import (PF_DIRNAME, PF_DRAWABLE, PF_FLOAT, PF_IMAGE, PF_INT, PF_OPTION,  # noqa: F401
                        PF_SPINNER, PF_STRING, PF_TOGGLE, main)

    import uprez_gimp2_host

    GIMP_VERSION = 2
    host = uprez_gimp2_host.Gimp2Host(gimpfu)

    def register(proc_name, blurb, help, author, copyright, date, label, imagetypes, params, results,
                 function, menu=None):
        """gimpfu.register with (name, label) option pairs reduced to labels and errors made readable."""
        params = [_labels_only(param) for param in params]
        gimpfu.register(proc_name, blurb, help, author, copyright, date, label, imagetypes, params, results,
                        _reporting(function), menu=menu)

    def _labels_only(param):
        if param[0] == PF_OPTION:
            labels = [item[1] if isinstance(item, tuple) else item for item in param[4]]
            return tuple(param[:4]) + (labels,)
        return param

    def _reporting(function):
        def run(*args):
            try:
                return function(*args)
            except Cancelled:
                return None
            except Exception as error:  # gimpfu would show a traceback: show the one line instead
                message = " ".join(str(error).split()) or type(error).__name__
                gimpfu.gimp.message("uprez: " + message)
                raise RuntimeError(message)
        run.__name__ = function.__name__
        return run
else:
    from uprez_gimp3 import (PF_DIRNAME, PF_DRAWABLE, PF_FLOAT, PF_IMAGE, PF_INT, PF_OPTION,  # noqa: F401
                             PF_SPINNER, PF_STRING, PF_TOGGLE, main, register)
    import uprez_gimp3_host

    GIMP_VERSION = 3
    host = uprez_gimp3_host.Gimp3Host()

__all__ = ["CallingError", "Cancelled", "GIMP_VERSION", "PF_DIRNAME", "PF_DRAWABLE", "PF_FLOAT", "PF_IMAGE",
           "PF_INT", "PF_OPTION", "PF_SPINNER", "PF_STRING", "PF_TOGGLE", "host", "main", "register"]
