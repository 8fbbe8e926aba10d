"""The bilingual base model (issue 10): `languages` config, its tokenizer, its pretraining pairs, its cache key."""

import json

import pytest

from r1kit.config import from_dict
from r1kit.data.arithmetic import HEADERS, STEP_WORDS, ArithmeticTask
from r1kit.data.templates import parse_completion
from r1kit.errors import R1kitError
from r1kit.pipeline.base_model import BaseModelConfig, build_base_model, cache_key, pretraining_pairs
from r1kit.rewards.language import count_words

SHARES = {"en": 0.5, "zh": 0.2, "mixed": 0.3}


def test_cache_key_unchanged_at_defaults():
    """With `languages` / `summary_share` at their defaults the key is that of a config without them (the
    hash of the other settings, version and layout 3; values computed with `python -c`)."""
    import hashlib
    import json
    from dataclasses import asdict

    from r1kit import __version__

    settings = {k: v for k, v in asdict(BaseModelConfig()).items() if k not in ("languages", "summary_share")}
    blob = json.dumps({**settings, "version": __version__, "layout": 3}, sort_keys=True)
    assert cache_key(BaseModelConfig()) == hashlib.sha256(blob.encode()).hexdigest()[:12] == "19da531627f1"
    assert cache_key(BaseModelConfig(learn_steps=10, pretrain_steps=5)) == "4db99787df41"
    keys = {cache_key(BaseModelConfig(languages=SHARES)), cache_key(BaseModelConfig(languages={"en": 1.0})),
            cache_key(BaseModelConfig(summary_share=0.5)), "19da531627f1"}
    assert len(keys) == 4


@pytest.mark.parametrize("languages,summary_share,match", [
    ({"fr": 1.0}, 0.0, "unknown language 'fr'"),
    ({"en": 0.5, "zh": 0.2}, 0.0, "sum to 1"),
    ({"en": 1.5, "zh": -0.5}, 0.0, ">= 0"),
    ({}, 1.5, "summary_share"),
])
def test_bad_languages_are_one_line_errors(languages, summary_share, match):
    with pytest.raises(R1kitError, match=match) as e:
        from_dict(BaseModelConfig, {"languages": languages, "summary_share": summary_share})
    assert "\n" not in str(e.value)


def test_config_from_cli_mapping():
    cfg = from_dict(BaseModelConfig, {"languages": {"en": 0.5, "zh": 0.2, "mixed": 0.3}})
    assert cfg.languages == SHARES


def test_pairs_without_languages_equal_the_old_draws():
    import random

    task = ArithmeticTask(digits=3)
    exs = task.examples("train", 200)
    rng = random.Random(7)
    old = [task.solution(ex, show_steps=rng.random() < 0.3) for ex in exs]
    assert [c for _, c in pretraining_pairs(task, exs, 0.3, "r1_zero", None, 7)] == old
    assert [c for _, c in pretraining_pairs(task, exs, 0.3, "r1_zero", None, 7, {}, 0.0)] == old
    # languages change the words, never which examples are worked
    worded = [c for _, c in pretraining_pairs(task, exs, 0.3, "r1_zero", None, 7, SHARES)]
    assert [parse_completion(c).reasoning == "" for c in worded] == [parse_completion(c).reasoning == "" for c in old]


def _trace_language(completion):
    counts = count_words(parse_completion(completion).reasoning)
    return "mixed" if counts["en"] and counts["zh"] else "en" if counts["en"] else "zh" if counts["zh"] else None


def test_pairs_follow_the_language_shares():
    task = ArithmeticTask(digits=5)
    exs = task.examples("train", 2000)
    pairs = pretraining_pairs(task, exs, 0.5, "r1_zero", None, 0, SHARES, summary_share=0.25)
    langs = [_trace_language(c) for _, c in pairs]
    worked = [lang for lang in langs if lang]
    assert abs(len(worked) / len(langs) - 0.5) < 0.04
    for name, share in SHARES.items():
        assert abs(worked.count(name) / len(worked) - share) < 0.04, (name, worked.count(name) / len(worked))
    summaries = sum(" so the sum is " in c for _, c in pairs) / len(pairs)
    assert abs(summaries - 0.25) < 0.04


def test_bilingual_tokenizer_makes_each_word_one_token():
    from r1kit.models import build_tokenizer
    from r1kit.models.corpus import bilingual_lines, default_corpus

    tok = build_tokenizer(default_corpus() + bilingual_lines())
    words = ["逐位", " 计算", " 如下", "column"] + [w for lang in STEP_WORDS.values() for w in lang.values()]
    for word in words:
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, (word, tok.tokenize(word))
    # both headers are 3 tokens + ":\n", so digits sit at the same absolute positions in either language
    en_h, zh_h = (tok("\n" + HEADERS[lang] + "\n", add_special_tokens=False)["input_ids"] for lang in ("en", "zh"))
    assert len(en_h) == len(zh_h) == 5
    # every worded line puts its digits at the same token offsets, whatever the language
    task = ArithmeticTask()
    ex = task.examples("train", 1)[0]
    en, zh = (parse_completion(task.solution(ex, True, lang)).reasoning.split("\n")[1:] for lang in ("en", "zh"))
    for en_line, zh_line in zip(en, zh):
        en_ids, zh_ids = (tok(line, add_special_tokens=False)["input_ids"] for line in (en_line, zh_line))
        assert len(en_ids) == len(zh_ids) == 2 + len(en_line) - 4 and en_ids[1:] == zh_ids[1:]


def test_small_bilingual_base_model_builds(tmp_path, one_thread):
    """A few steps at reduced size: the bilingual tokenizer is saved with the model and the config recorded."""
    from r1kit.models import load_tokenizer

    cfg = BaseModelConfig(overrides={"n_embd": 32, "n_layer": 1, "n_head": 2, "n_inner": 64}, digits=2,
                          n_examples=64, learn_steps=3, pretrain_steps=2, batch_size=8, languages=SHARES)
    path = build_base_model(cfg, tmp_path / "base", log=lambda *_: None)
    tok = load_tokenizer(str(path))
    assert len(tok(HEADERS["zh"], add_special_tokens=False)["input_ids"]) == 4
    assert json.loads((path / "r1kit_base.json").read_text())["languages"] == SHARES
