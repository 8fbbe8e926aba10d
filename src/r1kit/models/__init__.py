"""Building and loading models: r1kit's small tokenizer, named tiny configs, and loaders.

    from r1kit.models import build_tokenizer, new_model, load_model, load_tokenizer
    path = new_model("qwen2", "tiny", "runs/base", seed=0)   # random init, saved with its tokenizer
    model, tokenizer = load_model(path), load_tokenizer(path)
    save_model(model, tokenizer, "runs/sft", template="r1_zero")   # records the prompt as its chat template

Importing this package is cheap: transformers, tokenizers and torch load inside the functions.
"""

from r1kit.models.load import DTYPES, load_model, load_tokenizer
from r1kit.models.save import save_model
from r1kit.models.tiny import MODEL_CONFIGS, build_model, count_params, model_config, new_model
from r1kit.models.tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "DTYPES",
    "MODEL_CONFIGS",
    "SPECIAL_TOKENS",
    "build_model",
    "build_tokenizer",
    "count_params",
    "load_model",
    "load_tokenizer",
    "model_config",
    "new_model",
    "save_model",
]
