"""Keras's cuDNN GRU call on the torch backend, with its weights packed as one buffer.

Keras 3.15's ``_cudnn_gru`` re-orders the gates of its three weight tensors on every
call and hands cuDNN four separate tensors. cuDNN wants one contiguous weight buffer, so
``torch._VF.gru`` then "compacts" them into a fresh buffer, and that path forces one
host-device synchronisation per GRU call (torch's sync-debug mode points at the
``_VF.gru`` line: two per training step for this network, the only ones left in the
engine's lean steps). Here the same four tensors are written into one ``torch.cat``
buffer and passed as views of it, the layout ``nn.GRU.flatten_parameters`` produces, so
cuDNN uses the buffer as it is.

The maths is unchanged: the same values in the same order reach the same kernel, and
gradients flow back through the views and the concatenation to the Keras variables.
Imported only on the torch backend (by model/train/kernels.py).
"""
from __future__ import annotations

import torch


def keras_gru_to_cudnn_flat(kernel: torch.Tensor, recurrent_kernel: torch.Tensor,
                            bias: torch.Tensor | None) -> list[torch.Tensor]:
    """Keras GRU weights -> [w_ih, w_hh, b_ih, b_hh] as views of one contiguous buffer.

    Args:
        kernel: (input_dim, 3*units), Keras gate order [z, r, h].
        recurrent_kernel: (units, 3*units), same gate order.
        bias: (2, 3*units) for reset_after=True (row 0 input, row 1 recurrent), or None.

    Returns:
        cuDNN's parameter list, gate order [r, z, h], every tensor a view into one buffer.
    """
    units = recurrent_kernel.shape[0]

    def reorder(w: torch.Tensor) -> torch.Tensor:  # [z, r, h] -> [r, z, h] along the last axis
        z, r, h = torch.chunk(w, 3, dim=-1)
        return torch.cat([r, z, h], dim=-1)

    w_ih, w_hh = reorder(kernel).T, reorder(recurrent_kernel).T  # (3u, in), (3u, u)
    if bias is None:
        bias = torch.zeros(2, 3 * units, dtype=kernel.dtype, device=kernel.device)
    b = reorder(bias)
    parts = [w_ih.reshape(-1), w_hh.reshape(-1), b[0], b[1]]
    flat = torch.cat(parts)
    shapes = [w_ih.shape, w_hh.shape, (3 * units,), (3 * units,)]
    views, at = [], 0
    for shape in shapes:
        n = int(torch.Size(shape).numel())
        views.append(flat[at:at + n].view(shape))
        at += n
    return views


def cudnn_gru_flat(inputs, initial_state, kernel, recurrent_kernel, bias, return_sequences,
                   device=None):
    """Drop-in for ``keras.src.backend.torch.rnn._cudnn_gru`` (same arguments and returns).

    Args:
        inputs: (batch, time, features) tensor, already in the compute dtype.
        initial_state: (batch, units), (1, batch, units) or (batch, 1, units).
        kernel, recurrent_kernel, bias: Keras GRU weights (see keras_gru_to_cudnn_flat).
        return_sequences: whether to return every step's output or only the last.
        device: unused (kept for the signature; the weights already live on the device).

    Returns:
        (last_output (batch, units), outputs, [h_n (batch, units)]), as Keras returns them.
    """
    if initial_state.dim() == 2:
        initial_state = initial_state.unsqueeze(0)
    elif initial_state.dim() == 3 and initial_state.shape[1] == 1:
        initial_state = initial_state.permute(1, 0, 2)
    params = keras_gru_to_cudnn_flat(kernel, recurrent_kernel, bias)
    outputs, h_n = torch._VF.gru(inputs, initial_state.contiguous(), params, True, 1, 0.0,
                                 torch.is_grad_enabled(), False, True)
    last_output = outputs[:, -1]
    if not return_sequences:
        outputs = last_output.unsqueeze(1)
    return last_output, outputs, [h_n.squeeze(0)]
