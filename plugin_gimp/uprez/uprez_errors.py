# -*- coding: utf-8 -*-
"""The two failures a procedure reports differently from an engine error. Python 2.7 and 3."""


class CallingError(Exception):
    """An argument is out of range or unknown: a PDB calling error."""


class Cancelled(Exception):
    """The user cancelled: the PDB's cancel status, no error message."""
