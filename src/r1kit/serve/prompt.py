"""Chat messages -> the model's prompt, following DeepSeek-R1's usage recommendations (R1 model card).

    text = render_chat([{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "2 + 3?"}], tokenizer, thinking=True)
    # r1kit's tokenizer: "<|User|>Be brief.\\n\\n2 + 3?<|Assistant|><think>\\n"

- No system prompt: system (and developer) messages are folded into the first user turn, followed
  by a blank line ("all instructions should be contained within the user prompt").
- Multi-turn history drops earlier reasoning: an assistant message is used as its content, and a
  "<think>…</think>" part in that content is cut (R1's own chat template does the same).
- Thinking on: the prompt ends in "<think>\\n", so the model's output starts inside the reasoning
  (R1 sometimes skips the block otherwise). Off: the template gets enable_thinking=False; a template
  that opens the block anyway gets it closed empty ("<think>\\n\\n</think>\\n\\n", Qwen3's form).
"""

from __future__ import annotations

from r1kit.serve.protocol import APIError

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def r1_messages(messages: list[dict]) -> list[dict]:
    """Fold system messages into the first user turn; drop reasoning from assistant turns."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] in ("system", "developer"))
    out, folded = [], not system
    for m in messages:
        role, content = m["role"], m["content"]
        if role in ("system", "developer"):
            continue
        if role == "user" and not folded:
            content, folded = f"{system}\n\n{content}", True
        if role == "assistant" and THINK_CLOSE in content:
            content = content[content.rfind(THINK_CLOSE) + len(THINK_CLOSE) :].lstrip()
        out.append({"role": role, "content": content})
    return out


def render_chat(messages: list[dict], tokenizer, thinking: bool) -> str:
    """The prompt text (not yet tokenized) for `messages`, as described in the module docstring."""
    if not getattr(tokenizer, "chat_template", None):
        raise APIError(400, "this model's tokenizer has no chat template; use /v1/completions", param="messages")
    try:
        text = tokenizer.apply_chat_template(
            r1_messages(messages), tokenize=False, add_generation_prompt=True, enable_thinking=thinking
        )
    except Exception as e:  # jinja raise_exception(...) in a template: "roles must alternate" and the like
        raise APIError(400, f"the chat template rejected the messages: {e}", param="messages") from None
    opened = text.endswith(THINK_OPEN) or text.endswith(THINK_OPEN + "\n")
    if thinking:
        return text if text.endswith(THINK_OPEN + "\n") else text + ("\n" if opened else THINK_OPEN + "\n")
    if not opened:
        return text
    return text + ("\n" if text.endswith("\n") else "\n\n") + THINK_CLOSE + "\n\n"


def encode_chat(messages: list[dict], tokenizer, thinking: bool) -> list[int]:
    """Prompt token ids; the template writes any BOS itself, so no special tokens are added."""
    return tokenizer.encode(render_chat(messages, tokenizer, thinking), add_special_tokens=False)
