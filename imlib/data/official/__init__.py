"""``imlib prepare <dataset>``: the paper's datasets from their official downloads, one module each,
written in the same prepared form as :mod:`imlib.data.folder` (one ``.npz`` per split and a manifest)."""
