"""Training: the network, precision modes, trial settings, the trial engine, its feeds, kernels and metrics."""
