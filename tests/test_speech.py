"""Text-to-speech: both engines speak, voices differ, outputs are reproducible, bad words fail."""
import numpy as np
import pytest

from model.data import speech
from model.errors import ConfigError, SpeechError
from model.audio.features import SAMPLE_RATE_HZ
from model.data.speech_engines import NATIVE_RATE_HZ, piper_pcm

FRAME = int(0.005 * SAMPLE_RATE_HZ)  # 5 ms


def voice(name: str) -> speech.Voice:
    return next(v for v in speech.list_voices() if v.name == name)


def frame_db(audio: np.ndarray) -> np.ndarray:
    n = audio.size // FRAME
    rms = np.sqrt((audio[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2).mean(axis=1))
    return 20 * np.log10(rms / rms.max() + 1e-12)


def assert_speech_44k(audio: np.ndarray) -> None:
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.25 < audio.size / SAMPLE_RATE_HZ < 2.0  # "activate" takes about half a second
    assert np.abs(audio).max() == pytest.approx(speech.PEAK_LEVEL, abs=1e-3)
    db = frame_db(audio)
    # trimmed: speech (within 50 dB of the loudest 5 ms) starts and ends within 20 ms of the edges
    assert db[:4].max() > -50 and db[-4:].max() > -50
    # not trimmed into the word: most of the clip is loud
    assert (db > -30).mean() > 0.5


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_engine_speaks_a_trimmed_word_at_44k(engine):
    audio = speech.synthesize("activate", speech.default_voice(engine))
    assert_speech_44k(audio)


def test_piper_silence_is_trimmed():
    v = speech.default_voice("piper")
    raw = piper_pcm("activate", v.length_scale, v.noise_scale, v.noise_w_scale, 0)
    trimmed = speech.speak_native("activate", v)
    assert raw.size - trimmed.size > 0.1 * NATIVE_RATE_HZ  # piper leaves ~0.2 s of silence


def test_trim_silence_keeps_the_sound_and_a_small_margin():
    rate = NATIVE_RATE_HZ
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate).astype(np.float32)
    audio = np.concatenate([np.zeros(rate // 3, np.float32), tone, np.zeros(rate // 4, np.float32)])
    out = speech.trim_silence(audio, rate)
    assert tone.size <= out.size <= tone.size + 2 * (speech.TRIM_MARGIN_S + speech.TRIM_FRAME_S) * rate
    assert speech.trim_silence(np.zeros(rate, np.float32), rate).size == 0


def test_different_voices_and_seeds_sound_different():
    def differ(a, b):
        return a.shape != b.shape or not np.allclose(a, b, atol=1e-3)

    pairs = [
        (voice("espeak:en-us+m1:r170:p40:g50"), voice("espeak:en-gb-scotland+f3:r170:p40:g50")),
        (voice("piper:joe:ls1.00:ns0.667:nw0.80:st-3"), voice("piper:joe:ls1.00:ns0.667:nw0.80:st+3")),
    ]
    for a, b in pairs:
        assert differ(speech.speak_native("activate", a), speech.speak_native("activate", b))
    p = pairs[1][0]
    assert differ(speech.speak_native("activate", p, seed=1), speech.speak_native("activate", p, seed=2))


@pytest.mark.parametrize("name", ["espeak:en-gb-scotland+f3:r120:p40:g80",  # breathy: noisy
                                  "espeak:en-us+klatt2:r195:p55:g20",
                                  "piper:joe:ls0.90:ns0.900:nw1.20:st+2"])
def test_same_word_voice_and_seed_give_the_same_samples(name):
    v = voice(name)
    first = speech.synthesize("activate", v, seed=7)
    speech.synthesize("window", voice("espeak:en-us+m1:r170:p40:g50"))  # state in between
    speech.synthesize("window", speech.default_voice("piper"), seed=3)
    assert np.array_equal(first, speech.synthesize("activate", v, seed=7))


@pytest.mark.parametrize("bad", ["", "   \n", "!!!", "a" * 500, "hello!", "'", 42])
def test_check_word_rejects_with_one_line(bad):
    with pytest.raises(SpeechError) as err:
        speech.check_word(bad, engines=("espeak",))
    assert "\n" not in str(err.value) and str(err.value)


def test_check_word_normalises():
    assert speech.check_word("  Don't \t Stop ", engines=("espeak",)) == "don't stop"


def test_near_silent_engine_output_is_an_error(monkeypatch):
    monkeypatch.setattr(speech, "espeak_pcm", lambda *a: np.full(22050, 3, dtype=np.int16))
    with pytest.raises(SpeechError, match="no audible speech"):
        speech.speak_native("hush", speech.default_voice("espeak"))


def test_voice_lists_are_stable_and_consistent():
    voices = speech.list_voices()
    assert voices == speech.list_voices()
    assert len({v.name for v in voices}) == len(voices)
    fams = speech.voice_families()
    assert {v.family for v in voices} == set(fams)
    assert len(speech.voice_families("piper")) == len(speech.PIPER_SEMITONES)
    assert all(f.startswith("espeak:") for f in speech.voice_families("espeak"))
    accents = {v.accent for v in speech.list_voices("espeak")}
    assert accents == set(speech.ESPEAK_ACCENTS)


def test_draw_voice_follows_seed_share_and_families():
    draws = [speech.draw_voice(np.random.default_rng(5), None, 0.5) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    assert all(speech.draw_voice(rng, None, 1.0).engine == "piper" for _ in range(20))
    fams = ["espeak:en-029+f1", "piper:pitch-1"]
    got = {speech.draw_voice(rng, fams, 0.5).family for _ in range(40)}
    assert got == set(fams)
    with pytest.raises(ConfigError):
        speech.draw_voice(rng, ["espeak:en-029+nobody"], 0.0)
    with pytest.raises(ConfigError):
        speech.draw_voice(rng, ["espeak:en-029+f1"], 1.0)
    with pytest.raises(ConfigError):
        speech.draw_voice(rng, None, 1.5)
