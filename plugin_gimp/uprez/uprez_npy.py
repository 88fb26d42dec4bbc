# -*- coding: utf-8 -*-
"""Raw pixel files in numpy's .npy format, written and read with the standard library only.

GIMP hands the plug-in pixels as bytes; the engine reads them back exactly, at any depth,
with ``numpy.load(allow_pickle=False)``. Python 2.7 and 3 (GIMP 2.10 and 3).
"""

from __future__ import absolute_import, division, print_function

import ast
import struct

MAGIC = b"\x93NUMPY"
DTYPES = {"u8": "|u1", "u16": "<u2", "float": "<f4"}
SAMPLE_BYTES = {"u8": 1, "u16": 2, "float": 4}


def write(path, data, width, height, channels, sample):
    """Writes ``height x width x channels`` samples (``u8``, ``u16`` little-endian or ``float``)."""
    expected = width * height * channels * SAMPLE_BYTES[sample]
    if len(data) != expected:
        raise ValueError("pixel data is %d bytes, expected %d" % (len(data), expected))
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d, %d), }" % (
        DTYPES[sample], height, width, channels)
    # Version 1.0: the whole preamble is a multiple of 64 bytes and the header ends with a newline.
    padding = 64 - (len(MAGIC) + 2 + 2 + len(header) + 1) % 64
    header = (header + " " * padding + "\n").encode("latin-1")
    with open(path, "wb") as handle:
        handle.write(MAGIC + b"\x01\x00" + struct.pack("<H", len(header)) + header)
        handle.write(data)


def read(path):
    """Returns ``(data, width, height, channels, sample)`` from a file ``write`` (or numpy) made."""
    with open(path, "rb") as handle:
        preamble = handle.read(10)
        if preamble[:6] != MAGIC:
            raise ValueError("%s is not a .npy file" % path)
        major = bytearray(preamble[6:7])[0]
        if major == 1:
            length = struct.unpack("<H", preamble[8:10])[0]
        else:
            length = struct.unpack("<I", preamble[8:10] + handle.read(2))[0]
        header = ast.literal_eval(handle.read(length).decode("latin-1"))
        data = handle.read()
    sample = dict((v, k) for k, v in DTYPES.items()).get(header["descr"])
    shape = header["shape"]
    if sample is None or header["fortran_order"] or len(shape) != 3:
        raise ValueError("%s holds %s %s, not raw pixels" % (path, header["descr"], shape))
    height, width, channels = shape
    if len(data) != width * height * channels * SAMPLE_BYTES[sample]:
        raise ValueError("%s is truncated" % path)
    return data, width, height, channels, sample
