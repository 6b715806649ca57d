"""Pieces shared by the semi-supervised baselines, written once: pseudo-labels and confidences for
every task kind, weak/strong views and CutMix, the EMA teacher, U2PL's memory bank, and the
training objective that feeds them labeled and unlabeled batches."""
