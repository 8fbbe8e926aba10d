"""SFT examples: the loss mask covers exactly the assistant tokens (hand-built conversations, multi-turn);
packing keeps examples apart (packed loss and gradient = per-example ones); accumulation is exact."""

import pytest
import torch

from r1kit.train.sft_data import (ChatExample, accumulate_grad, encode_conversation, pack, step_rows, summed_nll,
                                  special_token_ids, turn_end_ids)

SYSTEM, Q1, Q2 = "Be brief.", "What is 2+3?", "And 4+4?"
A1, A2 = "<think>\nadd the digits\n</think>\n\n5", "<think>\nfour and four\n</think>\n\n8"


@pytest.fixture(scope="module")
def tok():
    from r1kit.models import build_tokenizer

    return build_tokenizer()


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def expected(tok, *pieces):
    """ids and mask of (text, in_loss) pieces written out by hand."""
    out_ids, out_mask = [], []
    for text, in_loss in pieces:
        piece = ids(tok, text)
        out_ids += piece
        out_mask += [int(in_loss)] * len(piece)
    return out_ids, out_mask


def test_mask_is_the_assistant_turn_with_its_eos(tok):
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": Q1},
                {"role": "assistant", "content": A1}]
    (ex,) = encode_conversation(messages, tok)
    want_ids, want_mask = expected(tok, (f"{SYSTEM}<|User|>{Q1}<|Assistant|><think>\n", False),
                                   ("add the digits\n</think>\n\n5<|endoftext|>", True))
    assert ex.ids == want_ids and ex.mask == want_mask
    assert tok.decode([t for t, m in zip(ex.ids, ex.mask) if m]) == "add the digits\n</think>\n\n5<|endoftext|>"
    assert ex.ids[-1] == tok.eos_token_id and ex.mask[-1] == 1


def test_multi_turn_without_reasoning_is_one_example_with_two_spans(tok):
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "bye"}, {"role": "assistant", "content": "ciao"}]
    (ex,) = encode_conversation(messages, tok)
    assert (ex.ids, ex.mask) == expected(tok, ("<|User|>hi<|Assistant|>", False), ("hello<|endoftext|>", True),
                                         ("<|User|>bye<|Assistant|>", False), ("ciao<|endoftext|>", True))


def test_multi_turn_reasoning_trains_each_turn_with_history_as_served(tok):
    """R1's template drops earlier reasoning from history: each turn is its own example, its history
    rendered as the model will see it at inference (the earlier answer without its think block, mask 0)."""
    messages = [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1},
                {"role": "user", "content": Q2}, {"role": "assistant", "content": A2}]
    first, second = encode_conversation(messages, tok)
    assert (first.ids, first.mask) == expected(tok, (f"<|User|>{Q1}<|Assistant|><think>\n", False),
                                               ("add the digits\n</think>\n\n5<|endoftext|>", True))
    assert (second.ids, second.mask) == expected(
        tok, (f"<|User|>{Q1}<|Assistant|>5<|endoftext|><|User|>{Q2}<|Assistant|><think>\n", False),
        ("four and four\n</think>\n\n8<|endoftext|>", True))


def test_pack_first_fit_decreasing():
    assert pack([5, 4, 3, 2, 1], 6) == [[0, 4], [1, 3], [2]]
    lengths = [7, 3, 9, 1, 1, 4, 6, 2, 8, 5]
    rows = pack(lengths, 10)
    assert sorted(i for r in rows for i in r) == list(range(10))
    assert all(sum(lengths[i] for i in r) <= 10 for r in rows) and len(rows) == 5  # 46 tokens: 5 rows minimum


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from r1kit.models import load_model

    torch.manual_seed(0)
    return load_model(str(tiny_model_dir)).eval()


def examples(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        length = int(torch.randint(4, 20, (1,), generator=g))
        toks = torch.randint(10, 500, (length,), generator=g).tolist()
        mask = (torch.rand(length, generator=g) < 0.6).long().tolist()
        out.append(ChatExample(toks, mask))
    return out


def step_loss_and_grad(model, batches, n_targets):
    model.zero_grad(set_to_none=True)
    loss, n = accumulate_grad(model, batches, "cpu")
    assert n == n_targets
    grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return loss, grad


def test_packed_loss_equals_per_example_loss(model, one_thread):
    exs = examples()
    n_targets = sum(sum(ex.mask[1:]) for ex in exs)
    alone = step_loss_and_grad(model, [step_rows([ex], 0, 64, False, 0)[0] for ex in exs], n_targets)
    packed_batches = step_rows(exs, 0, 40, True, 0)
    assert packed_batches[0]["input_ids"].shape[0] < len(exs)  # several examples share a row
    packed = step_loss_and_grad(model, packed_batches, n_targets)
    padded = step_loss_and_grad(model, step_rows(exs, 0, 40, False, 0), n_targets)
    for loss, grad in (packed, padded):
        assert loss == pytest.approx(alone[0], abs=1e-5)
        assert torch.allclose(grad, alone[1], atol=1e-6)
    # the test can fail: positions that run on across examples let attention cross the boundary
    crossing = [dict(b, position_ids=torch.arange(b["input_ids"].shape[1]).expand_as(b["input_ids"]))
                for b in packed_batches]
    assert abs(step_loss_and_grad(model, crossing, n_targets)[0] - alone[0]) > 1e-3


@pytest.mark.parametrize("packing", [True, False])
def test_gradient_accumulation_equals_the_full_batch(model, one_thread, packing):
    exs = examples(8, seed=1)
    n_targets = sum(sum(ex.mask[1:]) for ex in exs)
    full = step_loss_and_grad(model, step_rows(exs, 0, 30, packing, 0), n_targets)
    micro = step_rows(exs, 0, 30, packing, 1)
    assert len(micro) > 1
    acc = step_loss_and_grad(model, micro, n_targets)
    assert acc[0] == pytest.approx(full[0], abs=1e-5) and torch.allclose(acc[1], full[1], atol=1e-6)


def test_summed_nll_is_the_next_token_loss_on_masked_tokens(model, one_thread):
    """Reference: for each masked position t, run the model on ids[:t] alone and take -log p(ids[t])."""
    (ex,) = examples(1, seed=2)
    nll, count = summed_nll(model, step_rows([ex], 0, 64, True, 0)[0])
    want = 0.0
    with torch.no_grad():
        for t in range(1, len(ex.ids)):
            if ex.mask[t]:
                logits = model(input_ids=torch.tensor([ex.ids[:t]])).logits[0, -1]
                want -= torch.log_softmax(logits.float(), -1)[ex.ids[t]].item()
    assert count == sum(ex.mask[1:]) and nll.item() == pytest.approx(want, rel=1e-5)


CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_a_template_that_keeps_history_trains_all_turns_in_one_example(tok):
    """ChatML-style (Qwen2.5's form): the generation prompt does not open <think> (render_chat adds it, as eval
    and serve prompt), the turn ends "<|im_end|>\\n", and history keeps reasoning, so turns share one example."""
    import copy

    chatml = copy.deepcopy(tok)
    chatml.chat_template = CHATML
    messages = [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1},
                {"role": "user", "content": Q2}, {"role": "assistant", "content": "8"}]
    (ex,) = encode_conversation(messages, chatml)
    assert (ex.ids, ex.mask) == expected(
        tok, (f"<|im_start|>user\n{Q1}<|im_end|>\n<|im_start|>assistant\n<think>\n", False),
        ("add the digits\n</think>\n\n5<|im_end|>\n", True),
        (f"<|im_start|>user\n{Q2}<|im_end|>\n<|im_start|>assistant\n", False), ("8<|im_end|>\n", True))


def test_turn_end_is_the_last_special_token_of_the_target(tok):
    r1 = encode_conversation([{"role": "user", "content": Q1}, {"role": "assistant", "content": A1}], tok)
    assert turn_end_ids(r1, special_token_ids(tok)) == {tok.eos_token_id}
    import copy

    tagged = copy.deepcopy(tok)  # a template that ends turns with a special token that is not eos, then "\n"
    tagged.chat_template = CHATML.replace("<|im_end|>", "</answer>")
    ex = encode_conversation([{"role": "user", "content": Q1}, {"role": "assistant", "content": "5"}], tagged)
    assert turn_end_ids(ex, special_token_ids(tok)) == {tok.convert_tokens_to_ids("</answer>")}


def test_packing_check_tells_a_model_that_keeps_examples_apart(model, one_thread, monkeypatch):
    from r1kit.train.sft_data import packing_is_exact

    assert packing_is_exact(model, "cpu", 1024)
    real = model.forward

    def ignores_positions(*args, position_ids=None, **kwargs):  # a model that cannot be packed
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "forward", ignores_positions)
    assert not packing_is_exact(model, "cpu", 1024)


def test_trained_turn_is_the_pretraining_form_with_a_recorded_template():
    """SFT on a chat row of a worked solution, through the tokenizer's recorded r1_zero template: the target
    ids are exactly the pretraining completion's (reasoning included) plus eos, the prompt ids the prompt's."""
    from r1kit.data.tasks import get_task
    from r1kit.data.templates import chat_template_for, render_prompt
    from r1kit.models import build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = chat_template_for("r1_zero")
    task = get_task("arithmetic", digits=4)
    ex = task.examples("test", 1)[0]
    worked = task.solution(ex, show_steps=True)
    reasoning, answer = worked.split("</think>")[0].replace("<think>", "").strip(), worked.split("</think>")[1].strip()
    [got] = encode_conversation([{"role": "user", "content": ex.problem},
                                 {"role": "assistant", "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"}], tok)
    prompt = tok(render_prompt(ex.problem, "r1_zero") + " <think>\n", add_special_tokens=False)["input_ids"]
    target = tok(worked[len(" <think>\n"):], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert got.ids == prompt + target and got.mask == [0] * len(prompt) + [1] * len(target)


def test_a_template_that_drops_the_reasoning_is_refused():
    from r1kit.errors import R1kitError
    from r1kit.models import build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'user' %}U: {{ m['content'] }}\n{% else %}"
                         "A: {{ m['content'].split('</think>')[-1].strip() }}{{ eos_token }}{% endif %}{% endfor %}"
                         "{% if add_generation_prompt %}A: <think>\n{% endif %}")
    with pytest.raises(R1kitError, match="drops the reasoning"):
        encode_conversation([{"role": "user", "content": "1+1"},
                             {"role": "assistant", "content": "<think>\none and one\n</think>\n\n2"}], tok)
