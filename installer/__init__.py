"""The installer behind install.py: standard library only, Python 3.8+.

``platforms`` knows where things live on each OS, ``plan`` turns options into actions
without touching anything, ``actions`` carries them out with a manifest, ``doctor`` checks.
"""
