"""The GIMP plug-in (``uprez.plugin_gimp``): a stdlib-only client of ``python -m uprez``.

Not built yet: it arrives with the GIMP issue. Files here must stay importable by Python 2.7.
"""
