"""SpecAugment-style masking of training batches: blank out random time and frequency bands.

Park et al.'s SpecAugment (2019) trains a speech model on spectrograms with a few time
spans and frequency bands replaced by the mean, so it cannot lean on any one moment or
band; a detector trained this way should care less about a cheap microphone's missing
band or a burst of noise. Here each training clip gets ``time_masks`` spans of 0 to
``time_mask_frames`` frames (1 frame = 80 samples = 1.81 ms) and ``freq_masks`` bands of 0
to ``freq_mask_bins`` bins (1 bin = 218 Hz), filled with that clip's mean feature value.
Labels are untouched; dev and detection never mask.

Two implementations with the same distribution: numpy for host batches (TensorFlow, or
the host feed on torch) and torch for device-resident batches, where the mask positions
are drawn by a device generator so a step never waits for the host.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import ConfigError


@dataclass
class SpecAugmentConfig:
    """Masks per training clip (all zero: off)."""

    time_masks: int = 0  # time spans masked per clip
    time_mask_frames: int = 0  # longest span, frames (1.81 ms each; 5511 per clip)
    freq_masks: int = 0  # frequency bands masked per clip
    freq_mask_bins: int = 0  # widest band, bins (218 Hz each; 101 per frame)

    @property
    def active(self) -> bool:
        """Whether any mask can be non-empty."""
        return (self.time_masks > 0 and self.time_mask_frames > 0) or \
            (self.freq_masks > 0 and self.freq_mask_bins > 0)


PRESET = SpecAugmentConfig(2, 100, 2, 10)  # the dashboard's "on": 2 x <=0.18 s, 2 x <=2.2 kHz


def check_spec_augment(cfg: SpecAugmentConfig, n_frames: int = 5511, n_bins: int = 101) -> None:
    """One-line ConfigError for counts or widths that are negative or wider than a clip."""
    for name, value, most in (("time masks", cfg.time_masks, 20),
                              ("time mask frames", cfg.time_mask_frames, n_frames),
                              ("frequency masks", cfg.freq_masks, 20),
                              ("frequency mask bins", cfg.freq_mask_bins, n_bins)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            raise ConfigError(f"SpecAugment {name} must be an integer in 0..{most}, got {value!r}")


def _spans_np(rng: np.random.Generator, batch: int, count: int, widest: int, length: int
              ) -> np.ndarray:
    """(batch, length) bool: ``count`` spans per row, each 0..widest long, anywhere."""
    width = rng.integers(0, widest + 1, size=(batch, count))
    start = rng.integers(0, np.maximum(length - width, 0) + 1)
    pos = np.arange(length)
    return ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(axis=1)


def mask_features_np(x: np.ndarray, cfg: SpecAugmentConfig, rng: np.random.Generator
                     ) -> np.ndarray:
    """A masked copy of a (batch, frames, bins) feature batch (same dtype).

    Args:
        x: features, e.g. a float16 batch read from the memmap.
        cfg: mask counts and widths.
        rng: the epoch's generator (same seed, same masks).

    Returns:
        The batch with masked frames and bins set to each clip's mean.
    """
    out = np.array(x, dtype=x.dtype, copy=True)
    batch, frames, bins = out.shape
    fill = out.astype(np.float32).mean(axis=(1, 2)).astype(out.dtype)
    t = _spans_np(rng, batch, cfg.time_masks, cfg.time_mask_frames, frames)
    f = _spans_np(rng, batch, cfg.freq_masks, cfg.freq_mask_bins, bins)
    hit = t[:, :, None] | f[:, None, :]
    return np.where(hit, fill[:, None, None], out)


def mask_features_torch(x, cfg: SpecAugmentConfig, gen):
    """Torch version of :func:`mask_features_np` for device batches; ``gen`` is a
    torch.Generator on ``x``'s device (no host round trip)."""
    import torch

    batch, frames, bins = x.shape

    def spans(count: int, widest: int, length: int):
        width = torch.randint(0, widest + 1, (batch, count), device=x.device, generator=gen)
        room = (length - width + 1).clamp(min=1)
        start = (torch.rand((batch, count), device=x.device, generator=gen) * room).long()
        pos = torch.arange(length, device=x.device)
        return ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(dim=1)

    fill = x.float().mean(dim=(1, 2)).to(x.dtype)
    hit = spans(cfg.time_masks, cfg.time_mask_frames, frames)[:, :, None] | \
        spans(cfg.freq_masks, cfg.freq_mask_bins, bins)[:, None, :]
    return torch.where(hit, fill[:, None, None], x)


def mask_batches(batches: Iterator, cfg: SpecAugmentConfig, rng: np.random.Generator
                 ) -> Iterator:
    """Yield (masked x, y) for each (x, y); unchanged when ``cfg`` is not active."""
    if not cfg.active:
        yield from batches
        return
    gen = None
    for xb, yb in batches:
        if isinstance(xb, np.ndarray):
            yield mask_features_np(xb, cfg, rng), yb
            continue
        if gen is None:  # a device batch: one seed from the epoch's generator, then device RNG
            import torch
            gen = torch.Generator(device=xb.device)
            gen.manual_seed(int(rng.integers(2 ** 62)))
        yield mask_features_torch(xb, cfg, gen), yb
