"""Pure mixing functions of model/data/synth.py on constructed inputs."""
import numpy as np
import pytest

from model.audio.features import CLIP_SAMPLES, N_STEPS
from model.audio.effects import rms_dbfs
from model.data.synth import labels_for_ends, mix_clip, place_segments


def test_labels_start_right_after_each_end_and_last_50_steps():
    ends = [44100, 300000]  # 1 s and ~6.8 s
    y = labels_for_ends(ends)
    assert y.shape == (N_STEPS,) and y.sum() == 100
    for end in ends:
        step = end * N_STEPS // CLIP_SAMPLES
        assert y[step] == 0 and y[step + 1] == 1 and y[step + 50] == 1 and y[step + 51] == 0


def test_labels_clipped_at_clip_end():
    y = labels_for_ends([CLIP_SAMPLES - 100])
    assert y.sum() == 0 or y[-1] == 1
    assert y.shape == (N_STEPS,)


def test_place_segments_never_overlap():
    rng = np.random.default_rng(3)
    for _ in range(50):
        lengths = rng.integers(20000, 60000, size=6)
        taken = []
        starts = place_segments(rng, lengths, CLIP_SAMPLES, taken)
        spans = sorted(taken)
        for (s1, e1), (s2, _) in zip(spans, spans[1:]):
            assert e1 <= s2
        for start, length in zip(starts, lengths):
            assert start is None or 0 <= start <= CLIP_SAMPLES - length


def test_place_segments_drops_what_cannot_fit():
    rng = np.random.default_rng(0)
    starts = place_segments(rng, [CLIP_SAMPLES, 10], CLIP_SAMPLES)
    assert starts == [0, None]
    assert place_segments(rng, [CLIP_SAMPLES + 1], CLIP_SAMPLES) == [None]


def test_mix_clip_sets_snr_and_position():
    rng = np.random.default_rng(1)
    fg = (0.1 * np.sin(np.arange(4410) / 5)).astype(np.float32)
    bg = rng.normal(0, 0.5, CLIP_SAMPLES).astype(np.float32)
    out = mix_clip(fg, bg, snr_db=20.0, start_sample=1000)
    scaled_bg = out.copy()
    scaled_bg[1000:1000 + len(fg)] -= fg
    assert rms_dbfs(fg) - rms_dbfs(scaled_bg) == pytest.approx(20.0, abs=0.01)
    assert len(out) == CLIP_SAMPLES
