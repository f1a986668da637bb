"""Audio in and out: reading and decoding files, spectrogram features (log power, PCEN, seed-linear), effects."""
