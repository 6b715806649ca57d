"""Study A: IM as a plug-in over the semi-supervised hosts on the Cityscapes protocol.

One large model per run (DeepLabV3+ from segmentation-models-pytorch), trained with each host's official
recipe by :mod:`imlib.study_a.engine` (poly LR, OHEM, sliding-window evaluation, torchrun DDP); the hosts
live in :mod:`imlib.study_a.hosts` (one small file each), the IM plug-in in :mod:`imlib.study_a.plugin`.
How to run it, and what a faithful run costs: the book page "Running Study A".
"""
