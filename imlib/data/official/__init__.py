"""``imlib prepare <dataset>``: the paper's datasets from their official downloads, one module each,
prepared through :func:`imlib.data.prepare.prepare_dataset` in the same form as :mod:`imlib.data.folder` (one
``.npz`` per split and a manifest)."""
