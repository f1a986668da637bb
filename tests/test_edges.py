"""Quiet before and after a recording (model/detect/edges.py): equal to padding by hand,
times in the file's own seconds, and the shipped head finds a word said at a clip's edges."""
import numpy as np
import pytest

from model.audio.feature_kinds import SEED_TIMING
from model.audio.features import SAMPLE_RATE_HZ
from model.detect.detector import DetectConfig, Detector
from model.detect.edges import (QUIET_DBFS, RECORDING_PADS, file_timing, lead_in_steps,
                                quiet_audio)
from model.detect.timing import kind_timing
from model.errors import ConfigError


def test_quiet_audio_is_a_seeded_floor_at_its_level():
    a = quiet_audio(0.5, seed=1)
    assert a.dtype == np.float32 and a.shape == (SAMPLE_RATE_HZ // 2,)
    assert 20 * np.log10(np.sqrt(np.mean(a.astype(np.float64) ** 2))) == pytest.approx(QUIET_DBFS, abs=0.2)
    assert np.array_equal(a, quiet_audio(0.5, seed=1)) and not np.array_equal(a, quiet_audio(0.5, seed=2))
    assert quiet_audio(0.0).shape == (0,)


def test_lead_in_steps_are_dropped_and_step_zero_lands_in_the_file():
    emb = kind_timing("speech-embedding-v1")  # step 0 hears 0..0.782 s: no step ends in a 0.3 s lead-in
    assert lead_in_steps(emb, 0.3) == 0
    assert file_timing(emb, 0.3).first_step_end_seconds == pytest.approx(0.782 - 0.3)
    seed = SEED_TIMING  # 7.27 ms steps from 0 s: the first 42 steps end inside 0.3 s of lead-in
    assert lead_in_steps(seed, 0.3) == 42
    assert 0.0 <= file_timing(seed, 0.3).first_step_end_seconds < seed.step_seconds
    assert file_timing(seed, 0.0) == seed and lead_in_steps(seed, 0.0) == 0


def test_padding_equals_quiet_added_by_hand_with_times_shifted(tmp_path):
    """The padded scan of a clip is the unpadded scan of quiet + clip + quiet, less the steps
    of the lead-in, with every time moved back by the lead-in."""
    from tests.embedding_heads import random_head, save_head
    path = save_head(random_head(seed=0, scale=5.0), tmp_path, "random.keras")
    rng = np.random.default_rng(3)  # noise, a near-silence, louder noise: 0.5 s each
    clip = np.concatenate([rng.normal(0, level, SAMPLE_RATE_HZ // 2)
                           for level in (0.1, 0.003, 0.3)]).astype(np.float32)
    lead, end = RECORDING_PADS["lead_pad_seconds"], RECORDING_PADS["end_pad_seconds"]
    padded = Detector(path, DetectConfig(**RECORDING_PADS)).detect_samples(clip, SAMPLE_RATE_HZ)
    by_hand = Detector(path).detect_samples(
        np.concatenate([quiet_audio(lead, seed=1), clip, quiet_audio(end, seed=2)]), SAMPLE_RATE_HZ)
    # no step ends in the lead-in; the blocks' edges move the streaming resampler's rounding
    assert padded.probabilities.shape == by_hand.probabilities.shape
    assert np.abs(padded.probabilities - by_hand.probabilities).max() < 3e-3
    assert padded.probabilities.std() > 0.02  # a head that hears its input: the quiet matters
    unpadded = Detector(path).detect_samples(clip, SAMPLE_RATE_HZ).probabilities
    assert len(padded.probabilities) > len(unpadded)
    assert padded.step0_s == pytest.approx(by_hand.step0_s - lead)
    assert by_hand.detections  # times to compare
    assert [d.time_s for d in padded.detections] == pytest.approx(
        [d.time_s - lead for d in by_hand.detections])
    assert padded.duration_s == pytest.approx(1.5)  # the file's own duration
    with pytest.raises(ConfigError, match="padding must be within"):
        DetectConfig(end_pad_seconds=3.0).validate()


@pytest.fixture(scope="module")
def bare_take():
    """A piper "activate" with no lead-in and no tail (0.6 s: under the head's 0.78 s)."""
    from model.data.speech import list_voices, synthesize
    word = synthesize("activate", list_voices("piper")[0], seed=1)
    return (0.5 * word / np.abs(word).max()).astype(np.float32)


def test_the_shipped_head_finds_a_word_said_at_both_edges_only_with_the_quiet(bare_take, tmp_path):
    import soundfile as sf

    from model.cli import main
    from model.errors import AudioError
    plain = Detector("pretrained", DetectConfig(threshold=0.93))
    if len(bare_take) < 0.782 * SAMPLE_RATE_HZ:
        with pytest.raises(AudioError, match="too short"):
            plain.detect_samples(bare_take, SAMPLE_RATE_HZ)
    else:
        assert not plain.detect_samples(bare_take, SAMPLE_RATE_HZ).detections
    path = tmp_path / "take.wav"
    sf.write(path, bare_take, SAMPLE_RATE_HZ)
    padded = Detector("pretrained", DetectConfig(threshold=0.93, **RECORDING_PADS))
    found = padded.detect_file(path).detections
    assert len(found) == 1 and found[0].score > 0.93
    assert 0.0 < found[0].time_s < len(bare_take) / SAMPLE_RATE_HZ + 0.5
    assert main(["detect", "--pad", "--json", str(path)]) == 0
