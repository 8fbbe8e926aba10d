"""Chat prompts per R1's usage recommendations: system folded, history reasoning dropped, think forced."""

import copy

import pytest

from r1kit.serve.prompt import r1_messages, render_chat
from r1kit.serve.protocol import APIError


def test_system_is_folded_into_the_first_user_turn():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"}, {"role": "developer", "content": "And kind."},
                {"role": "user", "content": "2 + 3?"}]
    assert r1_messages(messages) == [{"role": "user", "content": "Be brief.\n\nAnd kind.\n\nHi"},
                                     {"role": "assistant", "content": "Hello"},
                                     {"role": "user", "content": "2 + 3?"}]


def test_earlier_reasoning_is_dropped():
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nB"},
                {"role": "user", "content": "c"}]
    assert r1_messages(messages)[1] == {"role": "assistant", "content": "B"}


def test_render_forces_the_think_block(tokenizer):
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert render_chat(messages, tokenizer, thinking=True) == "<|User|>S\n\nQ<|Assistant|><think>\n"
    assert render_chat(messages, tokenizer, thinking=False) == "<|User|>S\n\nQ<|Assistant|>"


@pytest.mark.parametrize("ending, on, off", [
    ("", "A:<think>\n", "A:"),                                           # template without a think block
    ("<think>\n", "A:<think>\n", "A:<think>\n\n</think>\n\n"),         # one that always opens it (R1's)
    ("<think>", "A:<think>\n", "A:<think>\n\n</think>\n\n"),
])
def test_templates_that_do_or_do_not_open_the_block(tokenizer, ending, on, off):
    tok = copy.copy(tokenizer)
    tok.chat_template = "{{ messages[0]['content'] }}{% if add_generation_prompt %}" + ending + "{% endif %}"
    messages = [{"role": "user", "content": "A:"}]
    assert (render_chat(messages, tok, True), render_chat(messages, tok, False)) == (on, off)


def test_no_template_or_a_template_error_is_a_400(tokenizer):
    tok = copy.copy(tokenizer)
    tok.chat_template = None
    with pytest.raises(APIError) as e:
        render_chat([{"role": "user", "content": "x"}], tok, True)
    assert e.value.status == 400 and "/v1/completions" in e.value.message
    tok.chat_template = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(APIError, match="roles must alternate"):
        render_chat([{"role": "user", "content": "x"}], tok, True)


def test_a_recorded_prompt_template_is_served_as_trained(tokenizer):
    """A checkpoint trained on the R1-Zero prompt records it as its chat template; the server renders it
    with the one renderer the evaluator uses, so the think opening matches what the model learned."""
    from r1kit.data.templates import chat_template_for, render_prompt

    tok = copy.copy(tokenizer)
    tok.chat_template = chat_template_for("r1_zero")
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "What is 12 + 34?"}]
    trained = render_prompt("S\n\nWhat is 12 + 34?", "r1_zero")
    assert render_chat(messages, tok, thinking=True) == trained + " <think>\n"
    assert render_chat(messages, tok, thinking=False) == trained + " <think>\n</think>"
    assert render_prompt("What is 12 + 34?", "chat", tok) == render_prompt("What is 12 + 34?", "r1_zero") + " <think>\n"
