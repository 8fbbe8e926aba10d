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
  Both are r1kit.data.templates.render_chat, the renderer `r1kit eval` uses too; a checkpoint trained
  on a prompt template records it as its chat template (`chat_template_for`), so the served model
  sees the prompt it was trained on.
"""

from __future__ import annotations

from r1kit.data import templates
from r1kit.data.templates import THINK_CLOSE
from r1kit.errors import R1kitError
from r1kit.serve.protocol import APIError


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
    """The prompt text (not yet tokenized) for `messages`: `r1_messages`, then the one chat renderer
    (r1kit.data.templates.render_chat, which opens or closes the think block); its errors become 400s."""
    if not getattr(tokenizer, "chat_template", None):
        raise APIError(400, "this model's tokenizer has no chat template; use /v1/completions", param="messages")
    try:
        return templates.render_chat(r1_messages(messages), tokenizer, thinking)
    except R1kitError as e:  # the template rejected the messages: "roles must alternate" and the like
        raise APIError(400, str(e), param="messages") from None


def encode_chat(messages: list[dict], tokenizer, thinking: bool) -> list[int]:
    """Prompt token ids; the template writes any BOS itself, so no special tokens are added."""
    return tokenizer.encode(render_chat(messages, tokenizer, thinking), add_special_tokens=False)
