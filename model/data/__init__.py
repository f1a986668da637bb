"""Training data: offline speech, word banks, backgrounds, augmentation, mixing, make-data, the dataset contract."""
