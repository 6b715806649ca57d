"""imlib: Inconsistency Masks (Vorndran & Roeck, arXiv 2401.14387) and its baselines, reproducibly.

Start with ``imlib.im`` (the method as tensor functions), then ``imlib.methods`` (training runs).
"""
__version__ = "0.2.0"
