"""Trained model -> streaming inference: one bounded piece at a time, GRU state carried.

A model is found from a spec ("pretrained", a .keras path or a run ID), loaded safely
(.keras only, ``safe_mode=True``, no pickles) and rebuilt as a *streaming* network: the
same layers and weights, but every recurrent layer also takes and returns its state.
Feeding step-aligned feature pieces (see :mod:`model.detect.pieces`) through it, state carried
from piece to piece, gives the whole-clip outputs up to float rounding (tested).

The network reads its feature kind's frames: a spectrogram network starts with a Conv1D
(kernel 15, stride 4 over 101-bin frames); a head over speech embeddings has no Conv1D and
reads one 96-value frame per step (kernel 1, stride 1). Either way the input width must
be the kind's ``n_values``.

Inference always computes in float32: on a CPU, float16 is slower, and the variables of
a mixed-precision model are float32 anyway. On TensorFlow the network is XLA-compiled
(about 4-8x faster than a plain tf.function for the GRUs on a CPU). Every piece has one
length (a short last piece is padded), so XLA compiles once per model: each further length
would cost ~2 s of compiling and ~15 MB of memory for as long as the process lives.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..card import shipped_detector_path
from ..errors import LabError
from ..audio.features import FEATURE_KIND_LOG, feature_kind

if TYPE_CHECKING:
    from .pieces import PieceGrid

PRETRAINED_SPEC = "pretrained"
# layers that act on each time step alone, so pieces cannot change their output
_STEPWISE = ("BatchNormalization", "LayerNormalization", "Activation", "ReLU", "Dropout",
             "Dense", "GaussianNoise", "GaussianDropout")
_RECURRENT = ("GRU", "LSTM", "SimpleRNN")


def resolve_model_path(spec: str | Path, store_path: str | Path | None = None) -> Path:
    """Turn a model spec into a .keras path.

    Args:
        spec: "pretrained", a path to a .keras file, or a run ID of the run store.
        store_path: the run store's database (default: the store's own default).

    Returns:
        Path of an existing .keras file.

    Raises:
        LabError: nothing found for ``spec``, with the reason in one line.
    """
    text = str(spec).strip()
    if text == PRETRAINED_SPEC:
        shipped = shipped_detector_path()
        if not shipped.is_file():
            raise LabError(f"no pretrained model is shipped yet ({shipped.name} missing); "
                           "pass --model PATH.keras or a run ID")
        return shipped
    path = Path(text).expanduser()
    if path.suffix or path.is_file() or "/" in text:
        if not path.is_file():
            raise LabError(f"{path}: no such model file")
        if path.suffix != ".keras":
            raise LabError(f"{path}: only .keras model files are loaded (no pickles, no .h5)")
        return path
    return _run_model_path(text, store_path)


def _run_model_path(run_id: str, store_path: str | Path | None) -> Path:
    """Ask the run store (imported lazily: detection works without it) for a run's model."""
    try:
        from ..runs.store import DEFAULT_DB_PATH, RunStore
    except ImportError:
        raise LabError(f"unknown model {run_id!r}: not a .keras file, and run IDs need the "
                       "run store, which is not available") from None
    db = Path(store_path) if store_path is not None else Path(DEFAULT_DB_PATH)
    if not db.is_file():  # opening the store would create it; a typo should not
        raise LabError(f"unknown model {run_id!r}: not a .keras file, and there is no run "
                       f"store at {db} to look it up in")
    try:
        store = RunStore(db)
        try:
            found = store.model_path(run_id)
        finally:
            store.close()
    except LabError:
        raise
    except Exception as err:  # the store's own failure, shown as one line
        raise LabError(f"could not look up run {run_id!r} in {db}: {err}") from None
    if found is None or not Path(found).is_file():
        raise LabError(f"run {run_id!r} has no saved model (unknown run, or it did not finish)")
    return Path(found)


def load_keras_model(path: str | Path) -> Any:
    """Load a .keras model safely (``safe_mode=True``, not compiled), computing in float32.

    Raises:
        LabError: not a .keras zip, or Keras refuses it.
    """
    import keras

    from ..train.kernels import install_gru_probe
    from ..modelfile import check_keras_file
    path = Path(path)
    check_keras_file(path)  # a zip of Keras's own layers only: no Lambda, no custom objects
    install_gru_probe()  # on torch: cuDNN gets packed GRU weights (no repacking per call)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # keras raises many types; the user needs one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise LabError(f"{path} could not be loaded as a Keras model: {first}") from None
    return float32_copy(model)


def float32_copy(model: Any) -> Any:
    """The model with every layer computing in float32 (same names and weights); the model
    itself when it already does.

    Inference computes in float32 (see the module docstring). A mixed-precision model used
    as saved failed inside the dashboard's server: GRUCell.call met a bfloat16 state and a
    float32 bias ("Input 'y' of 'AddV2' Op has type bfloat16"), the in-server TensorFlow bug
    that model/runs/isolation.py keeps training away from; the enrolment's judge and a
    model.predict on any AMP run would hit it.
    """
    import keras

    if all(getattr(layer.dtype_policy, "name", "float32") == "float32" for layer in model.layers):
        return model
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: type(layer).from_config({**layer.get_config(),
                                                                      "dtype": "float32"}))
    clone.set_weights(model.get_weights())
    return clone


class StreamingModel:
    """A trained chain network run piece by piece with its recurrent state carried.

    Args:
        model: a single-input, single-output chain: optionally a Conv1D (valid padding)
            first, then per-step and recurrent layers (the shapes
            :mod:`model.train.network` makes: the seed network, or a head over embeddings).
        piece_steps: output steps per piece; every call runs exactly this many.
        compile_xla: XLA-compile the network on the TensorFlow backend.
        kind: the feature kind the model reads (its frames and values per frame).

    Raises:
        LabError: a layout whose outputs would depend on where the pieces are cut, or an
            input width other than the kind's values per frame.
    """

    def __init__(self, model: Any, piece_steps: int = 1408, compile_xla: bool = True,
                 kind: str = FEATURE_KIND_LOG) -> None:
        self.grid, self.n_values = _chain_grid(model, kind)
        self.piece_steps = int(piece_steps)
        self.net, self.state_sizes = _streaming_chain(model, self.n_values)
        self._call = _compiled_call(self.net, compile_xla)
        self.name = str(model.name)

    def initial_state(self) -> list[np.ndarray]:
        """Zero states, one (1, units) array per recurrent state."""
        return [np.zeros((1, size), np.float32) for size in self.state_sizes]

    def run_piece(self, features: np.ndarray, state: list[Any]
                  ) -> tuple[np.ndarray, list[Any] | None]:
        """Outputs of one piece and the state after it.

        Args:
            features: (frames, n_values) float32 for n <= piece_steps output steps
                (frames = stride*(n-1) + kernel); fewer steps are zero-padded at the end.
            state: from :meth:`initial_state` or the previous call.

        Returns:
            (probabilities float32 shape (n,), state after the piece); the state is None
            after a short piece, where padding has run through the recurrent layers.
        """
        n = self.grid.steps_for_frames(features.shape[0])
        if not 0 < n <= self.piece_steps:
            raise ValueError(f"a piece must hold 1..{self.piece_steps} steps, got {n}")
        x = np.zeros((1, self.grid.frames_for_steps(self.piece_steps), self.n_values),
                     np.float32)
        used = self.grid.frames_for_steps(n)
        x[0, :used] = features[:used]
        out = self._call(x, *state)
        probs = np.asarray(out[0])[0, :n, 0].astype(np.float32)
        return probs, ([np.asarray(t) for t in out[1:]] if n == self.piece_steps else None)

    @property
    def traced_lengths(self) -> int | None:
        """How many input shapes were traced (and compiled) so far; None off TensorFlow."""
        counter = getattr(self._call, "experimental_get_tracing_count", None)
        return counter() if counter else None


def _chain_grid(model: Any, kind: str) -> tuple[PieceGrid, int]:
    """Check the layout and input width; read the conv's kernel/stride (1, 1 without one).

    Returns:
        (the pieces' grid on the kind's frames, values per frame).
    """
    from .pieces import piece_grid

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise LabError("detection needs a model with one input and one output")
    row = feature_kind(kind)
    n_values = int(model.inputs[0].shape[-1])
    if n_values != row.n_values:
        raise LabError(f"the model expects {n_values} values per frame, {kind} features "
                       f"have {row.n_values}")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers:
        raise LabError("detection needs a model with at least one layer")
    first, kernel, stride = layers[0], 1, 1
    if type(first).__name__ == "Conv1D":
        if first.padding != "valid" or tuple(first.dilation_rate) != (1,):
            raise LabError("detection needs a first Conv1D with valid padding and no dilation")
        kernel, stride = int(first.kernel_size[0]), int(first.strides[0])
        layers = layers[1:]
    for layer in layers:
        name = type(layer).__name__
        backwards = getattr(layer, "go_backwards", False) or getattr(layer, "stateful", False)
        if name not in _STEPWISE + _RECURRENT or backwards:
            raise LabError(f"layer {layer.name!r} ({name}) cannot be run in pieces; "
                           "detection supports a Conv1D + per-step layers + GRU/LSTM")
    return piece_grid(kind, kernel, stride), n_values


def _streaming_chain(model: Any, n_values: int) -> tuple[Any, list[int]]:
    """Rebuild the chain in float32 with recurrent layers taking/returning state."""
    import keras

    x_in = keras.Input((None, n_values), name="features")
    x, state_in, state_out, pairs = x_in, [], [], []
    for layer in (lay for lay in model.layers if type(lay).__name__ != "InputLayer"):
        cfg = {**layer.get_config(), "dtype": "float32"}
        if type(layer).__name__ in _RECURRENT:
            cfg.update(return_sequences=True, return_state=True)
            clone = type(layer).from_config(cfg)
            sizes = layer.cell.state_size
            sizes = [int(s) for s in (sizes if isinstance(sizes, (list, tuple)) else [sizes])]
            ins = [keras.Input((s,), name=f"{layer.name}_state{i}") for i, s in enumerate(sizes)]
            outs = clone(x, initial_state=ins if len(ins) > 1 else ins[0])
            x, state_in, state_out = outs[0], state_in + ins, state_out + list(outs[1:])
        else:
            clone = type(layer).from_config(cfg)
            x = clone(x)
        pairs.append((clone, layer))
    for clone, layer in pairs:
        clone.set_weights(layer.get_weights())
    net = keras.Model([x_in, *state_in], [x, *state_out], name=f"{model.name}_streaming")
    return net, [int(t.shape[-1]) for t in state_in]


def _compiled_call(net: Any, compile_xla: bool):
    """A fast inference callable: XLA/tf.function on TensorFlow, a plain call elsewhere."""
    import keras

    if keras.backend.backend() == "torch":
        import torch

        def call(*args):
            with torch.no_grad():  # else outputs carry autograd history and refuse numpy()
                return net(list(args), training=False)
        return call
    if keras.backend.backend() != "tensorflow":
        return lambda *args: net(list(args), training=False)
    import tensorflow as tf

    return tf.function(lambda *args: net(list(args), training=False), jit_compile=compile_xla,
                       reduce_retracing=not compile_xla)
