"""Detection: streaming inference, the detector, ensembles, the chime, dev-set evaluation and its plots."""
