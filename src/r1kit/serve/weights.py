"""Weights for a served model from a checkpoint folder, checked before anything is replaced.

`load_state_dict` with a wrong shape still copies the parameters that match and leaves a half-changed
model, so `POST /update_weights_from_disk` (serve/batcher.py) loads and checks the new weights here first.
"""

from r1kit.errors import R1kitError


def load_checked(model, path: str) -> dict:
    """The state_dict of the checkpoint at `path` in `model`'s dtype and device, checked against `model`'s: the
    same class and tied embeddings, the same parameter names and shapes (R1kitError naming the difference)."""
    from r1kit.models import load_model

    param = next(model.parameters())
    try:
        new = load_model(path, dtype=str(param.dtype).removeprefix("torch."), device=str(param.device))
    except R1kitError:
        raise
    except Exception as e:  # a corrupt or partial checkpoint
        raise R1kitError(f"could not load weights from {path!r}: {type(e).__name__}: {e}") from None
    old_config, new_config = model.config, new.config
    if type(new) is not type(model) or (getattr(new_config, "tie_word_embeddings", None)
                                             != getattr(old_config, "tie_word_embeddings", None)):
        raise R1kitError(f"{path!r} holds a {type(new).__name__} (tied embeddings: "
                         f"{getattr(new_config, 'tie_word_embeddings', None)}), the server a "
                         f"{type(model).__name__} ({getattr(old_config, 'tie_word_embeddings', None)})")
    state_dict, own = new.state_dict(), model.state_dict()
    if state_dict.keys() != own.keys():
        diff = sorted(state_dict.keys() ^ own.keys())
        raise R1kitError(f"{path!r}: parameter names differ from the served model's ({len(diff)}, e.g. {diff[0]})")
    for name, tensor in state_dict.items():
        if tensor.shape != own[name].shape:
            raise R1kitError(f"{path!r}: {name} has shape {tuple(tensor.shape)}, the served model "
                             f"{tuple(own[name].shape)}")
    return state_dict
