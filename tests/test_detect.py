"""Detection: formats and rates, chunked == whole, the detection rule, the chime, bad input."""
import json
import struct

import numpy as np
import pytest
import soundfile as sf
import soxr

from model.audio.files import AudioLimits
from model.detect.chime import (CHIME_PATH, load_chime, mix_chimes, overlay_chime, synthesize_chime,
                         write_chimed_wav)
from model.detect.detector import DetectConfig, Detector, probabilities_to_detections
from model.errors import AudioError, ConfigError, LabError
from model.audio.features import FEATURE_KIND_PCEN, FEATURE_KINDS, STEP_SECONDS, audio_to_features
from model.detect.pieces import PieceGrid, iter_feature_pieces
from model.detect.stream import resample_blocks

SPEECH_BINS = 37  # bins 0..36 = 0..8 kHz: the test network listens where speech lives


@pytest.fixture(scope="module")
def keras_model():
    """The seed network with random weights, made input-sensitive: its output is scaled so
    probabilities spread over 0..1, and it ignores bins above 8 kHz, where lossy codecs
    discard inaudible content that a random (untrained) network would amplify."""
    import keras

    from model.train.network import build_model

    keras.utils.set_random_seed(0)
    model = build_model()
    w, b = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([w * 10.0, b])
    k, kb = model.get_layer("conv").get_weights()
    k[:, SPEECH_BINS:, :] = 0.0
    model.get_layer("conv").set_weights([k, kb])
    return model


@pytest.fixture(scope="module")
def detector(keras_model):
    return Detector.from_keras(keras_model, DetectConfig(), label="test")


def _speechlike_16k(seconds=6.0, seed=1):
    """Band-limited (< 7.5 kHz) test audio at 16 kHz: noise floor, gated noise, a sweep."""
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    t = np.arange(n) / 16000
    x = (0.01 * rng.normal(size=n) + 0.1 * rng.normal(size=n) * (np.sin(2 * np.pi * 0.7 * t) > 0)
         + 0.2 * np.sin(2 * np.pi * (300 + 200 * t) * t) * ((t > 2) & (t < 4)))
    x = soxr.resample(soxr.resample(x.astype(np.float32), 16000, 15000, "VHQ"), 15000, 16000, "VHQ")
    return x[:n].astype(np.float32)


def _at(rate, x16):
    return x16 if rate == 16000 else soxr.resample(x16, 16000, rate, "VHQ").astype(np.float32)


# ---------------------------------------------------------------- formats, rates, chunks

@pytest.fixture(scope="module")
def reference(detector):
    x = _at(44100, _speechlike_16k())
    probs = detector.detect_samples(x, 44100).probabilities
    assert probs.std() > 0.05  # the network does react to this audio
    return x, probs


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


# ---------------------------------------------------------------- the detection rule

def _trace(n=400, runs=()):
    p = np.full(n, 0.1, np.float32)
    for start, length, value in runs:
        p[start:start + length] = value
    return p


def test_threshold_is_inclusive_and_times_are_steps():
    found = probabilities_to_detections(_trace(runs=[(100, 5, 0.5)]), threshold=0.5)
    assert [(d.step, d.end_step) for d in found] == [(100, 105)]
    assert found[0].time_s == pytest.approx(100 * STEP_SECONDS)
    assert probabilities_to_detections(_trace(runs=[(100, 5, 0.49)]), threshold=0.5) == []


def test_min_steps_drops_short_runs():
    p = _trace(runs=[(50, 2, 0.9), (200, 3, 0.8)])
    assert [d.step for d in probabilities_to_detections(p, 0.5, min_steps=3)] == [200]
    assert [d.step for d in probabilities_to_detections(p, 0.5, min_steps=1)] == [50, 200]


def test_refractory_hold_off_runs_from_the_detection_start_and_keeps_the_peak():
    p = _trace(runs=[(100, 10, 0.6), (174, 3, 0.95), (250, 3, 0.7), (325, 3, 0.8)])
    found = probabilities_to_detections(p, 0.5, refractory_steps=75)
    assert [d.step for d in found] == [100, 250, 325]  # 74 after a detection merges, 75 does not
    assert found[0].score == pytest.approx(0.95) and found[0].end_step == 177
    assert found[1].score == pytest.approx(0.7) and found[1].end_step == 253
    assert len(probabilities_to_detections(p, 0.5, refractory_steps=0)) == 4


def test_a_long_run_is_one_detection_and_edges_count():
    p = _trace(runs=[(0, 3, 0.9), (150, 250, 0.8)])
    found = probabilities_to_detections(p[:, None], 0.5)  # (steps, 1) is accepted
    assert [(d.step, d.end_step) for d in found] == [(0, 3), (150, 400)]
    assert probabilities_to_detections(np.zeros(0), 0.5) == []


def test_detector_applies_its_config(keras_model, reference):
    x, ref = reference
    cfg = DetectConfig(threshold=float(np.quantile(ref, 0.9)), refractory_steps=0)
    result = Detector.from_keras(keras_model, cfg).detect_samples(x, 44100)
    expected = probabilities_to_detections(result.probabilities, cfg.threshold, 1, 0)
    assert len(result.detections) == len(expected) > 0
    assert all(d.score >= cfg.threshold for d in result.detections)


def test_config_is_validated_and_json_ready():
    with pytest.raises(ConfigError):
        DetectConfig(threshold=1.5).validate()
    with pytest.raises(ConfigError):
        DetectConfig(min_steps=0).validate()
    assert json.loads(json.dumps(DetectConfig().to_dict()))["limits"]["max_seconds"] == 3600.0


# ---------------------------------------------------------------- the chime

def test_chime_is_a_decaying_bell_and_the_asset_is_ours():
    chime = synthesize_chime(44100)
    assert 0.5 < chime.shape[0] / 44100 < 1.5 and np.abs(chime).max() == pytest.approx(0.8)
    assert abs(chime[0]) < 0.01 and abs(chime[-1]) < 1e-3  # no clicks
    spectrum = np.abs(np.fft.rfft(chime))
    assert 1000 < np.argmax(spectrum) * 44100 / chime.shape[0] < 1100  # C6 fundamental
    quarter = chime.shape[0] // 4
    assert np.abs(chime[:quarter]).max() > 4 * np.abs(chime[-quarter:]).max()  # it rings out
    asset, rate = sf.read(CHIME_PATH, dtype="float32")
    assert rate == 44100 and np.abs(asset - chime).max() < 1e-4  # committed = synthesised


def test_overlay_puts_the_chime_at_each_time_and_streaming_matches(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.05, 48000 * 25).astype(np.float32)  # 25 s: more than two read blocks
    times = [1.0, 9.95, 20.0]  # the second chime crosses a 10 s block boundary
    mixed = overlay_chime(x, 48000, times, gain=0.5)
    chime = load_chime(48000)
    start = 48000
    assert np.allclose(mixed[start:start + chime.shape[0]] - x[start:start + chime.shape[0]],
                       0.5 * chime, atol=1e-6)
    assert np.array_equal(mixed[:start], x[:start])
    sf.write(tmp_path / "in.wav", x, 48000, subtype="FLOAT")
    assert write_chimed_wav(tmp_path / "in.wav", times, tmp_path / "out.wav") == 48000
    written, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 48000 and np.abs(written - mixed).max() < 1e-4  # 16-bit rounding
    assert np.array_equal(mix_chimes(x[:10], 5, np.array([0]), chime, 1.0),
                          np.clip(x[:10] + chime[5:15], -1, 1))


# ---------------------------------------------------------------- bad input

def _wav_with_format_tag(path, tag):
    data = np.zeros(4410, np.int16).tobytes()
    fmt = struct.pack("<HHIIHH", tag, 1, 44100, 88200, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + \
        struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _bad_inputs(tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.1, 44100).astype(np.float32)
    p = tmp_path
    (p / "empty.wav").write_bytes(b"")
    (p / "text.wav").write_text("this is not audio\n" * 20)
    sf.write(p / "ok.wav", noise, 44100, subtype="PCM_16")
    (p / "truncated.wav").write_bytes((p / "ok.wav").read_bytes()[:30000])
    (p / "corrupt.wav").write_bytes(b"RIFF\xff\xff\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(200))
    sf.write(p / "zero.wav", np.zeros(0, np.float32), 44100, subtype="PCM_16")
    sf.write(p / "silent.wav", np.zeros(44100, np.float32), 44100, subtype="PCM_16")
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        bad = noise.copy()
        bad[1000] = value
        sf.write(p / f"{name}.wav", bad, 44100, subtype="FLOAT")
    sf.write(p / "short.wav", noise[:500], 44100, subtype="PCM_16")
    sf.write(p / "long.wav", rng.normal(0, 0.1, 44100 * 3).astype(np.float32), 44100)
    _wav_with_format_tag(p / "codec.wav", 0x0161)  # WMA in a WAV: no decoder
    return {"empty": "empty", "text": "not a readable audio", "truncated": "truncated",
            "corrupt": "not a readable audio", "zero": "no audio samples", "silent": "silent",
            "nan": "NaN", "inf": "NaN or infinite", "short": "too short", "long": "over the 2 s",
            "codec": "not a readable audio", "big": "over the"}


def test_every_bad_input_is_one_line_and_writes_nothing(keras_model, tmp_path):
    expected = _bad_inputs(tmp_path)
    det = Detector.from_keras(keras_model, DetectConfig(limits=AudioLimits(max_seconds=2.0)))
    small = Detector.from_keras(keras_model, DetectConfig(limits=AudioLimits(max_bytes=10_000)))
    for name, words in expected.items():
        target = small if name == "big" else det
        path = tmp_path / ("ok.wav" if name == "big" else f"{name}.wav")
        with pytest.raises(AudioError) as info:
            target.detect_file(path)
        message = str(info.value)
        assert words in message and "\n" not in message and len(message) < 300, (name, message)
        if name in ("silent", "short"):
            continue  # readable audio: only detection refuses it (the CLI writes nothing then)
        with pytest.raises(AudioError):
            write_chimed_wav(path, [0.1], tmp_path / "out" / f"{name}.wav",
                             limits=target.config.limits)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert det.detect_file(tmp_path / "ok.wav").probabilities.shape[0] > 0


def test_duration_limit_holds_while_decoding(tmp_path):
    """A header may understate the length (VBR MP3): decoding stops at the limit anyway."""
    from model.detect.stream import iter_mono_blocks, open_source

    sf.write(tmp_path / "a.wav", np.full(44100 * 3, 0.1, np.float32), 44100)
    info = open_source(tmp_path / "a.wav")
    info.max_seconds = 1.5
    with pytest.raises(AudioError, match="more than the 2 s limit"):
        list(iter_mono_blocks(tmp_path / "a.wav", info, block_seconds=1.0))


def test_bad_arrays_and_uploads(detector):
    with pytest.raises(AudioError, match="empty"):
        detector.detect_samples(np.zeros(0, np.float32), 44100)
    with pytest.raises(AudioError, match="NaN"):
        detector.detect_samples(np.full(44100, np.nan, np.float32), 44100)
    with pytest.raises(AudioError, match="not a readable"):
        detector.detect_file(b"RIFF but not really a wave file at all")


# ---------------------------------------------------------------- model specs

def test_pretrained_names_the_embedding_detector_when_shipped_else_the_pair(tmp_path, monkeypatch):
    import model.card as card
    from model.detect.inference import resolve_model_path

    pair, head = tmp_path / "activate.keras", tmp_path / "activate-embedding.keras"
    monkeypatch.setattr(card, "PRETRAINED_PATH", pair)
    monkeypatch.setattr(card, "DETECTOR_PATH", head)
    pair.write_bytes(b"pair")
    assert resolve_model_path("pretrained") == pair
    head.write_bytes(b"head")
    assert resolve_model_path("pretrained") == head


def test_model_specs_fail_in_one_line(tmp_path, monkeypatch):
    import model.detect.inference as inference

    monkeypatch.setattr(inference, "shipped_detector_path", lambda: tmp_path / "missing.keras")
    (tmp_path / "fake.keras").write_bytes(b"not a zip")
    (tmp_path / "m.h5").write_bytes(b"x")
    for spec, words in [("pretrained", "no pretrained model"),
                        (tmp_path / "fake.keras", "not a .keras"),
                        (tmp_path / "m.h5", "only .keras"), (tmp_path / "nope.keras", "no such"),
                        ("no-such-run-id", "no-such-run-id")]:
        with pytest.raises(LabError) as info:
            Detector(spec, store_path=tmp_path / "lab.sqlite")
        assert words in str(info.value) and "\n" not in str(info.value)


def test_saved_model_loads_with_its_feature_card(keras_model, tmp_path):
    from model.card import read_model_card, write_model_card

    path = tmp_path / "model.keras"
    keras_model.save(path)
    assert Detector(path).feature_kind == "log-power-v1"  # no card: our default
    write_model_card(path, "seed-linear")
    assert read_model_card(path) == "seed-linear" and Detector(path).feature_kind == "seed-linear"


def test_unstreamable_layout_is_refused():
    import keras

    inputs = keras.Input((None, 101))
    x = keras.layers.Conv1D(8, 15, strides=4)(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(LabError, match="cannot be run in pieces"):
        Detector.from_keras(model)


def test_rule_matches_the_dev_metric_with_min_steps_1():
    """The dashboard's dev metric and the detector must agree, so a dev threshold carries over."""
    from model.train.metrics import detections_from_probs

    rng = np.random.default_rng(7)
    traces = np.full((6, 1375), 0.2, np.float32)
    for trace in traces:  # bursts of 1..30 steps separated by gaps of 1..60: every case
        pos = int(rng.integers(0, 20))
        while pos < trace.shape[0]:
            length = int(rng.integers(1, 31))
            trace[pos:pos + length] = rng.uniform(0.5, 1.0)
            pos += length + int(rng.integers(1, 61))
    rows, steps = detections_from_probs(traces, 0.5, refractory_steps=20)
    for i, trace in enumerate(traces):
        mine = [d.step for d in probabilities_to_detections(trace, 0.5, 1, 20)]
        assert mine == steps[rows == i].tolist() and len(mine) > 3


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


def test_decode_clip_refuses_bad_input_like_the_file_path(keras_model, tmp_path):
    """Every bad upload fails with the same one line, whether streamed or decoded once."""
    from model.detect.detector import decode_clip

    for name in _bad_inputs(tmp_path):
        limits = AudioLimits(max_bytes=10_000) if name == "big" else AudioLimits(max_seconds=2.0)
        det = Detector.from_keras(keras_model, DetectConfig(limits=limits))
        data = (tmp_path / ("ok.wav" if name == "big" else f"{name}.wav")).read_bytes()
        with pytest.raises(AudioError) as want:
            det.detect_file(data)
        with pytest.raises(AudioError) as got:
            det.detect_clip(decode_clip(data, limits))
        assert str(got.value) == str(want.value), name


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


def test_embedding_detections_lie_on_the_80ms_grid_with_the_kinds_hold_off():
    """Step i is at 0.782 + 0.08 i s; the default hold-off is 7 steps (0.56 s), not 75."""
    from model.audio.features import EMBEDDING_TIMING

    trace = _trace(116, runs=[(10, 2, 0.9), (15, 1, 0.8), (17, 1, 0.95), (30, 3, 0.7)])
    found = probabilities_to_detections(trace, 0.5, timing=EMBEDDING_TIMING)
    assert [d.step for d in found] == [10, 17, 30]  # 15 is within 7 steps of 10; 17 is not
    assert [d.time_s for d in found] == pytest.approx([1.582, 2.142, 3.182])
    seed_rule = probabilities_to_detections(trace, 0.5, refractory_steps=75,
                                            timing=EMBEDDING_TIMING)
    assert [d.step for d in seed_rule] == [10]


def test_embedding_head_detects_on_its_grid_and_refuses_short_or_wrong_input(tmp_path):
    """An always-on head: one detection at step 0, i.e. 0.782 s; a clip under 0.782 s and a
    head of another width are one-line errors."""
    import keras

    from model.card import write_model_card
    from tests.embedding_heads import always_on_head, save_head

    path = save_head(always_on_head(), tmp_path, "on.keras")
    det = Detector(path)
    noise = np.random.default_rng(9).normal(0, 0.1, 44100 * 3).astype(np.float32)
    result = det.detect_samples(noise, 44100)
    assert result.probabilities.shape == (28,)  # 1 + (3 s - 0.782 s) // 0.08
    assert [(d.step, d.time_s) for d in result.detections] == [(0, pytest.approx(0.782))]
    assert det.refractory_steps == 7
    with pytest.raises(AudioError, match="needs at least 782 ms"):
        det.detect_samples(noise[:22050], 44100)
    inputs = keras.Input((None, 101))
    wide = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.GRU(4, return_sequences=True)(inputs)))
    wide.save(tmp_path / "wide.keras")
    write_model_card(tmp_path / "wide.keras", "speech-embedding-v1")
    with pytest.raises(LabError) as info:
        Detector(tmp_path / "wide.keras")
    assert "expects 101 values per frame, speech-embedding-v1 features have 96" in str(info.value)
    assert "\n" not in str(info.value)
