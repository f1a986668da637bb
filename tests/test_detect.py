"""Detection: formats and rates, chunked == whole, streamed pieces, one decode, embedding heads.

The detection rule and the chime are in test_detect_rule.py, bad input and model specs in
test_detect_inputs.py; the shared network and audio in detect_helpers.py.
"""
import numpy as np
import pytest
import soundfile as sf
import soxr

from model.audio.features import FEATURE_KIND_PCEN, FEATURE_KINDS, audio_to_features
from model.detect.detector import DetectConfig, Detector
from model.detect.pieces import PieceGrid, iter_feature_pieces
from model.detect.stream import resample_blocks
from tests.detect_helpers import _at, _speechlike_16k
from tests.detect_helpers import detector, keras_model, reference  # noqa: F401 (fixtures)

# ---------------------------------------------------------------- formats, rates, chunks

def _diff(a, b):
    n = min(len(a), len(b))
    assert abs(len(a) - len(b)) <= 1
    return np.abs(a[:n] - b[:n])


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
def test_same_audio_at_other_sample_rates_gives_same_probabilities(detector, reference, tmp_path,
                                                                   rate):
    _, ref = reference
    path = tmp_path / f"clip{rate}.wav"
    sf.write(path, _at(rate, _speechlike_16k()), rate, subtype="FLOAT")
    diff = _diff(detector.detect_file(path).probabilities, ref)
    assert diff.max() < 2e-3


@pytest.mark.parametrize("fmt,subtype,ext,max_tol,mean_tol", [
    ("WAV", "PCM_16", "wav", 0.05, 0.005),  # 16-bit rounding only
    ("FLAC", "PCM_16", "flac", 0.05, 0.005),
    ("OGG", "VORBIS", "ogg", 0.2, 0.03),  # lossy codecs
    ("MP3", "MPEG_LAYER_III", "mp3", 0.2, 0.03),
])
def test_same_audio_in_other_formats_gives_same_probabilities(detector, reference, tmp_path, fmt,
                                                              subtype, ext, max_tol, mean_tol):
    x, ref = reference
    path = tmp_path / f"clip.{ext}"
    sf.write(path, x, 44100, format=fmt, subtype=subtype)
    diff = _diff(detector.detect_file(path).probabilities, ref)
    assert diff.max() < max_tol and diff.mean() < mean_tol
    other = detector.detect_samples(np.roll(x, 2 * 44100), 44100).probabilities
    assert _diff(other, ref).mean() > 3 * mean_tol  # the tolerance is far below a real change


def test_stereo_file_equals_its_mono_mix(detector, reference, tmp_path):
    x, ref = reference
    sf.write(tmp_path / "st.wav", np.stack([x, x], axis=1), 44100, subtype="FLOAT")
    assert _diff(detector.detect_file(tmp_path / "st.wav").probabilities, ref).max() < 1e-5


def test_chunked_equals_whole_clip_keras_model(keras_model, tmp_path):
    """Pieces of ~1 s, GRU state carried, vs one call of the original model."""
    x = _at(48000, _speechlike_16k(seconds=7.0, seed=3))
    sf.write(tmp_path / "long.wav", x, 48000, subtype="FLOAT")
    chunked = Detector.from_keras(keras_model, DetectConfig(chunk_seconds=1.0))
    assert 130 < chunked.piece_steps < 145
    probs = chunked.detect_file(tmp_path / "long.wav").probabilities
    whole_audio = soxr.resample(x, 48000, 44100, "HQ")
    feats = audio_to_features(whole_audio, 44100)
    whole = np.asarray(keras_model.predict_on_batch(feats[None]))[0, :, 0]
    assert probs.shape == whole.shape and probs.shape[0] > 6 * chunked.piece_steps
    assert np.abs(probs - whole).max() < 1e-4  # the stated tolerance


def test_clips_of_any_length_share_one_compiled_length(keras_model):
    det = Detector.from_keras(keras_model, DetectConfig(chunk_seconds=2.0))
    rng = np.random.default_rng(4)
    for seconds in (0.5, 1.3, 2.0, 4.7):
        det.detect_samples(rng.normal(0, 0.1, int(44100 * seconds)).astype(np.float32), 44100)
    assert det.net.traced_lengths == 1  # memory and compile time do not grow with new lengths


@pytest.mark.parametrize("pieces_of", [5000, 777, 100000])
def test_pcen_pieces_equal_whole_exactly(pieces_of):
    """PCEN's running mean crosses piece boundaries: each frame is filtered once, in order."""
    x = np.random.default_rng(6).normal(0, 0.1, 44100 * 3).astype(np.float32)
    x[30000:60000] *= 10  # a loud stretch, so the filter state matters
    grid = PieceGrid()
    pieces = list(iter_feature_pieces([x[i:i + pieces_of] for i in range(0, x.size, pieces_of)],
                                      50, grid, FEATURE_KIND_PCEN))
    whole = audio_to_features(x, 44100, FEATURE_KIND_PCEN)
    assert len(pieces) > 3
    assert sum(grid.steps_for_frames(p.shape[0]) for p in pieces) == grid.steps_for_frames(whole.shape[0])
    for i, p in enumerate(pieces):
        start = i * 50 * grid.stride_frames
        assert np.array_equal(p, whole[start:start + p.shape[0]])


@pytest.mark.parametrize("kind", FEATURE_KINDS)
def test_every_kind_streams_in_pieces_like_the_whole_clip(kind):
    """Each registry row's streaming (running state fed power frames or audio, or framewise)
    equals the whole clip, on the kind's own step grid: pieces of ~0.29 s (40 seed steps,
    4 embedding steps), fed in odd-sized blocks."""
    from model.audio.features import feature_kind
    from model.detect.pieces import piece_grid

    x = np.random.default_rng(7).normal(0, 0.1, 44100 * 2).astype(np.float32)
    x[20000:40000] *= 10  # a loud stretch, so running state matters
    grid = piece_grid(kind)
    piece_steps = round(0.29 / grid.step_seconds)
    pieces = list(iter_feature_pieces([x[i:i + 3001] for i in range(0, x.size, 3001)],
                                      piece_steps, grid, kind))
    whole = audio_to_features(x, 44100, kind)
    assert len(pieces) > 3
    steps = sum(grid.steps_for_frames(p.shape[0]) for p in pieces)
    assert steps == grid.steps_for_frames(whole.shape[0])
    # an audio-fed stream resamples in pieces (soxr) and batches ONNX calls differently:
    # equal up to float rounding; the others are exact
    tol = 1e-4 if feature_kind(kind).new_audio_stream is not None else 0.0
    for i, p in enumerate(pieces):
        start = i * piece_steps * grid.stride_frames
        np.testing.assert_allclose(p, whole[start:start + p.shape[0]], rtol=0, atol=tol)


def test_conv_geometry_has_one_source(keras_model):
    """The network's defaults, the detection grid and the label grid agree, so none can drift."""
    from model.audio.feature_kinds import SEED_STEPS
    from model.audio.features import N_FRAMES, N_FREQ, N_STEPS
    from model.detect.inference import StreamingModel
    from model.train.network import NetworkConfig

    cfg = NetworkConfig()
    assert cfg.step_grid == SEED_STEPS
    grid = PieceGrid()
    assert (grid.kernel_frames, grid.stride_frames) == (cfg.conv_kernel, cfg.conv_stride)
    assert N_STEPS == (N_FRAMES - cfg.conv_kernel) // cfg.conv_stride + 1
    assert tuple(keras_model.compute_output_shape((1, N_FRAMES, N_FREQ))) == (1, N_STEPS, 1)
    assert StreamingModel(keras_model, 8, compile_xla=False).grid == grid
    assert NetworkConfig(conv_stride=3).step_grid.steps_for_frames(N_FRAMES) != N_STEPS


def test_stream_resampling_and_pieces_equal_whole():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.1, 48000 * 2).astype(np.float32)
    blocks = [x[i:i + 7001] for i in range(0, x.shape[0], 7001)]
    streamed = np.concatenate(list(resample_blocks(iter(blocks), 48000)))
    assert np.array_equal(streamed, soxr.resample(x, 48000, 44100, "HQ"))
    grid = PieceGrid()
    pieces = list(iter_feature_pieces([streamed[i:i + 5000] for i in range(0, len(streamed), 5000)],
                                      50, grid))
    whole = audio_to_features(streamed, 44100)
    assert all(grid.steps_for_frames(p.shape[0]) == 50 for p in pieces[:-1])
    assert max(p.shape[0] for p in pieces) == grid.frames_for_steps(50)  # bounded
    steps = sum(grid.steps_for_frames(p.shape[0]) for p in pieces)
    assert steps == grid.steps_for_frames(whole.shape[0])
    for i, p in enumerate(pieces):  # each piece's frames are the whole's frames
        start = i * 50 * grid.stride_frames
        assert np.allclose(p, whole[start:start + p.shape[0]], atol=1e-5)


# ---------------------------------------------------------------- one decode (the app's clip)

@pytest.mark.parametrize("rate,channels,seconds,fmt", [(44100, 1, 3.0, "WAV"),
                                                       (16000, 1, 23.0, "WAV"),
                                                       (48000, 2, 12.5, "FLAC")])
def test_a_decoded_clip_scans_and_chimes_exactly_like_its_file(detector, rate, channels, seconds,
                                                                fmt):
    """The app decodes once; probabilities, duration and chimed WAV equal the file path's
    (several 10 s decode blocks, resampling and a stereo mix included)."""
    import io

    from model.detect.chime import chimed_samples_wav_bytes, chimed_wav_bytes
    from model.detect.detector import decode_clip

    x = _at(rate, _speechlike_16k(seconds))
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, 0.5 * x], axis=1) if channels == 2 else x, rate, format=fmt,
             subtype="PCM_16")
    data = buf.getvalue()
    clip = decode_clip(data)
    assert clip.samples.dtype == np.float32 and not clip.samples.flags.writeable
    want, got = detector.detect_file(data), detector.detect_clip(clip)
    assert np.array_equal(got.probabilities, want.probabilities)
    assert got.detections == want.detections and got.duration_s == want.duration_s
    assert (got.source, got.sample_rate_hz) == (want.source, want.sample_rate_hz) \
        == ("the upload", rate)
    times = [0.1, 1.234, seconds - 0.2]
    assert chimed_samples_wav_bytes(clip.samples, rate, times) == chimed_wav_bytes(data, times)


# ---------------------------------------------------------------- speech-embedding heads (80 ms)

@pytest.fixture(scope="module")
def head_path(tmp_path_factory):
    """A random head over speech embeddings, saved with its card."""
    from tests.embedding_heads import random_head, save_head

    return save_head(random_head(), tmp_path_factory.mktemp("head"), "head.keras")


def test_embedding_head_streams_a_file_in_pieces_like_the_whole_clip(head_path, tmp_path):
    """A 48 kHz file, 6-step (0.48 s) pieces with GRU state carried, equals one call of the
    saved head on the whole clip's embeddings; default pieces too."""
    import keras

    from model.audio.features import EMBEDDING_TIMING, FEATURE_KIND_EMBEDDING

    x = _at(48000, _speechlike_16k(seconds=7.0, seed=3))
    sf.write(tmp_path / "long.wav", x, 48000, subtype="FLOAT")
    small = Detector(head_path, DetectConfig(chunk_seconds=0.5))
    assert small.feature_kind == FEATURE_KIND_EMBEDDING and small.piece_steps == 6
    result = small.detect_file(tmp_path / "long.wav")
    feats = audio_to_features(soxr.resample(x, 48000, 44100, "HQ"), 44100, FEATURE_KIND_EMBEDDING)
    head = keras.saving.load_model(head_path)
    whole = np.asarray(head.predict_on_batch(feats[None]))[0, :, 0]
    assert result.probabilities.shape == whole.shape == (feats.shape[0],)
    assert whole.shape[0] > 10 * small.piece_steps and whole.std() > 0.05  # it reacts
    assert np.abs(result.probabilities - whole).max() < 1e-4
    default = Detector(head_path).detect_file(tmp_path / "long.wav").probabilities
    assert np.abs(default - whole).max() < 1e-4
    assert (result.step_s, result.step0_s) == (0.08, EMBEDDING_TIMING.first_step_end_seconds)


def test_audio_fed_pieces_push_bounded_blocks(monkeypatch):
    """A clip handed over whole (the app's decoded clip) reaches the embedding stream in
    bounded pushes, with the same pieces."""
    import model.detect.pieces as pieces
    from model.audio.embedding import EmbeddingStream
    from model.detect.pieces import piece_grid

    x = np.random.default_rng(8).normal(0, 0.1, 44100 * 4).astype(np.float32)
    grid = piece_grid("speech-embedding-v1")
    want = list(iter_feature_pieces([x], 5, grid, "speech-embedding-v1"))
    sizes = []
    push = EmbeddingStream.push
    monkeypatch.setattr(EmbeddingStream, "push",
                        lambda self, a: sizes.append(a.size) or push(self, a))
    monkeypatch.setattr(pieces, "PUSH_SECONDS", 0.5)
    got = list(iter_feature_pieces([x], 5, grid, "speech-embedding-v1"))
    assert max(sizes) == 22050 and sum(sizes) == x.size
    assert [g.shape for g in got] == [w.shape for w in want]
    assert [g.shape[0] for g in got] == [5] * 8 + [1]  # 41 steps: 1 + (4 s - 0.782 s) // 0.08
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-4)
