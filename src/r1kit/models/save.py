"""Save a model as a plain Hugging Face folder that records the prompt template it was trained with.

    save_model(model, tokenizer, "runs/sft", template="r1_zero")
    # runs/sft: config.json, generation_config.json, model.safetensors, tokenizer files,
    # chat_template.jinja = the R1-Zero prompt as a chat template (r1kit.data.templates.chat_template_for)

Every consumer of a model reads its prompt format from the tokenizer's chat template (`r1kit eval`
with its default template "chat", `r1kit serve`, vLLM, transformers pipelines). A model trained on the
R1-Zero prompt but served through a chat template it never saw answers gibberish, so the training
template is written there: the served model sees exactly the prompt it was trained to continue.
"""

from pathlib import Path


def save_model(model, tokenizer, out_dir, *, template: str | None = None, state_dict: dict | None = None) -> Path:
    """Write `model` (safetensors) and `tokenizer` to `out_dir`; return it as a Path.

    template: the prompt template the model was trained with ("r1_zero", a "{prompt}" string, or
    "chat"). For all but "chat" the saved tokenizer's chat template becomes that template's chat form;
    `tokenizer` itself is left unchanged. None or "chat" keep the tokenizer's own template.
    state_dict: the weights to write instead of the model's own (a sharded model's gathered full weights).
    """
    from r1kit.data.templates import chat_template_for

    out = Path(out_dir).expanduser()
    model.save_pretrained(out, safe_serialization=True, **({"state_dict": state_dict} if state_dict else {}))
    recorded = chat_template_for(template) if template else None
    own = getattr(tokenizer, "chat_template", None)
    try:
        if recorded is not None:
            tokenizer.chat_template = recorded
        tokenizer.save_pretrained(out)
    finally:
        tokenizer.chat_template = own
    return out
