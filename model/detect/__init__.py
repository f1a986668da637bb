"""Detection: streaming inference, the detector, ensembles, the chime, dev-set evaluation
and its plots, each on its model's step grid (:mod:`model.detect.timing`)."""
