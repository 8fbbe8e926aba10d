"""The `reward_model` reward: scores only the final part (after </think>), None without one, never raises,
loads once, batched equals one at a time; through the registry like any other reward."""

import pytest

from r1kit.data.base import Example
from r1kit.errors import R1kitError
from r1kit.rewards import reward_model as rm
from r1kit.rewards.context import RewardContext
from r1kit.rewards.registry import check_rewards, compute_rewards

pytestmark = pytest.mark.usefixtures("one_thread")
EX = Example("toy-1", "What is 12 + 30?", "42")
CTX = RewardContext()


@pytest.fixture(scope="module")
def rm_run(tiny_model_dir, tmp_path_factory):
    """A reward model trained 12 steps on the toy set (sums preferred to "I am not sure."): its run dir."""
    import torch

    from r1kit.train.config import ModelConfig, OptimConfig
    from r1kit.train.rm import train_rm
    from r1kit.train.rm_config import RMConfig, RMDataConfig, RMRunConfig

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("rm") / "run"
    train_rm(RMRunConfig(model=ModelConfig(name_or_path=str(tiny_model_dir), device="cpu"),
                         data=RMDataConfig(toy=200, max_length=128), rm=RMConfig(batch_size=16),
                         optim=OptimConfig(lr=1e-3), steps=12, eval_every=0, out_dir=str(out)), progress=False)
    torch.set_num_threads(before)
    return out


def score(completions, path, contexts=None, **options):
    contexts = contexts or [CTX] * len(completions)
    return rm.reward_model_rewards(completions, [EX] * len(completions), contexts, path=str(path), **options)


def test_only_the_final_part_counts(rm_run):
    s = score(["<think>12 plus 30</think> 42", "<think>a much longer, different line of thought</think> 42",
               "42", "<think>12 plus 30</think> I am not sure.", "<think>12 plus 30</think> 41"], rm_run)
    assert s[0] == pytest.approx(s[1], abs=1e-5) == pytest.approx(s[2], abs=1e-5)   # reasoning changes nothing
    assert s[3] < s[0] - 1.0                                                         # the answer does
    assert s[4] != pytest.approx(s[0], abs=1e-6)


def test_think_open_is_honoured_and_no_final_part_is_none(rm_run):
    opened = RewardContext(think_open=True)
    s = score(["12 plus 30</think> 42", "<think>12 plus 30</think> 42", "still thinking 42",
               "<think>never closed 42", "<think>done</think>   ", "42"],
              rm_run, [opened, CTX, opened, CTX, CTX, CTX])
    assert s[0] == pytest.approx(s[1], abs=1e-5) == pytest.approx(s[5], abs=1e-5)
    assert s[2] is None and s[3] is None and s[4] is None


def test_batched_equals_one_at_a_time_and_the_model_loads_once(rm_run):
    rm.load_reward_model.cache_clear()
    completions = ["<think>x</think> 42", "<think>y</think> no idea", "<think>z", "<think>w</think> 7"]
    batched = score(completions, rm_run, batch_size=3)
    single = [rm.reward_model_reward(c, EX, CTX, path=str(rm_run)) for c in completions]
    assert batched == pytest.approx(single, abs=1e-5) and batched[2] is None
    assert rm.load_reward_model.cache_info().misses == 1


def test_through_the_registry(rm_run):
    totals, parts = compute_rewards(["<think>a</think> 42", "<think>a"], [EX, EX], None, {"reward_model": 0.5},
                                    options={"reward_model": {"path": str(rm_run)}})
    assert parts["reward_model"][1] is None and totals[1] == 0.0
    assert totals[0] == pytest.approx(0.5 * parts["reward_model"][0])
    check_rewards({"reward_model": 1.0}, {"reward_model": {"path": str(rm_run)}}, preflight=True)


def test_bad_paths(rm_run, tiny_model_dir, tmp_path):
    with pytest.raises(R1kitError, match="set reward_options.reward_model.path"):
        check_rewards({"reward_model": 1.0}, preflight=True)
    with pytest.raises(R1kitError, match="no model at"):
        check_rewards({"reward_model": 1.0}, {"reward_model": {"path": str(tmp_path / "nope")}}, preflight=True)
    with pytest.raises(R1kitError, match="is not a reward model"):
        rm.reward_model_preflight({"path": str(tiny_model_dir)})          # a causal LM: its head would be random
    assert score(["<think>a</think> 42"], tmp_path / "nope") == [None]   # at scoring time: never raises


def test_a_too_long_text_loses_its_start_not_its_answer(rm_run):
    model, tokenizer = rm.load_reward_model(str(rm_run))
    long_prompt = ({"role": "user", "content": "What is 12 + 30? " + "Think hard. " * 50},)
    texts = [rm.rm_text(tokenizer, long_prompt, a) for a in ("42", "I am not sure.")]
    import torch

    with torch.no_grad():
        cut = rm.sequence_rewards(model, tokenizer, texts, max_length=12)
    assert abs(cut[0] - cut[1]) > 1e-3                # cut from the end, both would read the same 12 tokens
    ids = tokenizer(texts[0], add_special_tokens=False)["input_ids"][-12:]
    assert tokenizer.decode(ids).endswith("42" + tokenizer.eos_token)     # the kept tokens end with the answer
    with torch.no_grad():
        tail = model(input_ids=torch.tensor([ids])).logits.item()
    assert cut[0].item() == pytest.approx(tail, abs=1e-5)


def test_stage_4_mix_rule_rewards_for_reasoning_the_model_for_general(rm_run):
    from r1kit.data.arithmetic import ArithmeticTask

    task = ArithmeticTask()
    general = Example("g", "What is 12 + 30?", "", {"type": "general"})
    reasoning = task._example("r", 1, 2)
    options = {"per_type": {"weights": {"reasoning": {"accuracy": 1.0}, "general": {"reward_model": 1.0}},
                            "options": {"reward_model": {"path": str(rm_run)}}}}
    completions = ["<think>a</think> <answer>3</answer>", "<think>a</think> 42", "<think>a</think> I am not sure."]
    _, parts = compute_rewards(completions, [reasoning, general, general], task, {"per_type": 1.0}, options=options)
    alone = score(completions[1:], rm_run)
    assert parts["per_type"][0] == 1.0
    assert parts["per_type"][1:] == pytest.approx(alone, abs=1e-5) and alone[0] > alone[1]


def test_missing_scores_a_completion_without_an_answer(rm_run):
    _, parts = compute_rewards(["<think>never closed", "<think>a</think> 42"], [EX, EX], None, {"reward_model": 1.0},
                               options={"reward_model": {"path": str(rm_run), "missing": -5}})
    assert parts["reward_model"][0] == -5.0 and parts["reward_model"][1] == pytest.approx(score(["42"], rm_run)[0])
