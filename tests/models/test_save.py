"""save_model: a plain HF folder whose tokenizer records the prompt template the model was trained with."""

import pytest

from r1kit.data.templates import chat_template_for, recorded_template, render_chat, render_prompt
from r1kit.models import CHAT_TEMPLATE, build_model, load_model, load_tokenizer, save_model


@pytest.fixture(scope="module")
def tiny(tokenizer):
    return build_model("gpt2", "tiny", tokenizer, seed=0, n_embd=32, n_layer=1, n_head=2, n_inner=64)


@pytest.mark.parametrize("template", ["r1_zero", "Q: {prompt}\nA:"])
def test_a_prompt_template_is_recorded_as_the_chat_template(tmp_path, tokenizer, tiny, template):
    out = save_model(tiny, tokenizer, tmp_path / "m", template=template)
    assert tokenizer.chat_template == CHAT_TEMPLATE  # the caller's tokenizer is left as it was
    loaded = load_tokenizer(out)
    assert loaded.chat_template == chat_template_for(template)
    assert recorded_template(loaded.chat_template) == ("r1_zero" if template == "r1_zero" else "custom")
    q = [{"role": "user", "content": "What is 2 + 3?"}]
    assert render_chat(q, loaded) == render_prompt("What is 2 + 3?", template) + " <think>\n"
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    load_model(out)  # loads with AutoModelForCausalLM


@pytest.mark.parametrize("template", [None, "chat"])
def test_chat_or_none_keeps_the_tokenizers_own(tmp_path, tokenizer, tiny, template):
    out = save_model(tiny, tokenizer, tmp_path / "m", template=template)
    assert load_tokenizer(out).chat_template == CHAT_TEMPLATE
