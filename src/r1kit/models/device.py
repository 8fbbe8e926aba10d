"""Which device a model runs on: "auto" picks CUDA when torch sees a GPU, else the CPU.

Here, in models/, because training, evaluation and serving all load models and none of them may
import another (docs/ARCHITECTURE.md, "Layers").
"""


def resolve_device(name: str) -> str:
    """The device for `name`: "auto" -> "cuda" if available else "cpu"; any other name ("cpu", "cuda:1") as is."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
