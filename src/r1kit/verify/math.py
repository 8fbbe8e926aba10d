"""Math answers: extract the final answer from a completion and check it against the gold answer.

    extract_math_answer("<think>…</think> So the answer is \\boxed{\\frac{1}{2}}.")   # "\\frac{1}{2}"
    extract_math_answer("… so there are $12$ of them.")       # FREE_TEXT + "… so there are $12$ of them."
    verify_math("\\frac12", "0.5")                                                     # 1.0
    verify_math_batch([("1,234", "1234"), ("7", "8")])                                 # [1.0, 0.0]

The aim (issue 9): never agree less often than Math-Verify called on the whole prediction, and
never call two different numbers equal. An explicit answer (\\boxed{}, several boxes forming one
answer, <answer>, "final answer is X") is taken here; a final text without one is handed, as a
bounded FREE_TEXT tail, to Math-Verify's own extraction in the worker (benchmarks/verifier_agreement.py
measures both on Math-Verify's test cases). Checks go to a shared `VerifierPool` (Math-Verify in
killable worker processes, math_pool.py) after cheap pre-checks that settle most GSM8K-style
integer answers without a round trip. Answers are normalised first for forms Math-Verify 0.9
misreads (measured): markdown bold, \\text{...} wrappers, \\dfrac/\\tfrac, digit-group separators
("1,234", "1\\,000", "1 000"), a trailing period.
Nothing here raises: a malformed or hostile answer scores 0.0.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
from fractions import Fraction

from r1kit.data.templates import last_answer_block, split_reasoning
from r1kit.verify.math_pool import FREE_TEXT, VerifierPool

MAX_ANSWER_CHARS = 10_000  # extraction scans no further than this for a closing brace
MAX_PRED_CHARS = 1_000  # longer answers score 0.0 unchecked (benchmark golds: <= 53 chars; Math-Verify
#                         takes ~0.5 s on 2000 letters, and its time grows faster than the length)
_MAX_BOX_TRIES = 20  # \boxed occurrences tried from the end; bounds the work on hostile text
_THOUSANDS = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")  # comma-separated digit groups: linear
_INTEGER = re.compile(r"[-+]?\d+")
# A number in an exponent raised to a power again: 10^10^10, 2^{2^{2}}. sympy evaluates such towers
# exactly and never returns (measured: 10^{10^{10}} and 9^{9^{9^{9}}} hang past any deadline).
# Symbolic ones (e^{x^2}) stay symbolic and are cheap, so they are not matched.
_NESTED_POWER = re.compile(r"\^\s*\{?\s*\d[\d.]*\s*\^")
MAX_NESTING = 10  # bracket depth; Math-Verify's parser is exponential in it (depth 20: > 5 s). Golds: <= 2
_DECIMAL = re.compile(r"[-+]?\d+(?:\.\d+)?")
_WRAPPERS = ("\\text", "\\textbf", "\\mathrm", "\\mathbf", "\\mbox")
_BOX_COMMANDS = ("\\boxed", "\\fbox")
MAX_FREE_TEXT_CHARS = 4000  # the tail of an answer-less final text handed to Math-Verify (it took 1-70 ms
#                             on 1,000-8,000 characters of prose, measured; the final answer sits at the end)
_MAX_BETWEEN_BOXES = 60  # characters between two boxes that still form one answer ("\\boxed{1}, \\boxed{2}")
# What may stand between boxes of one answer: separators, spacing, math delimiters, "y =".
_BETWEEN_BOXES = re.compile(
    r"(?:\s|[,;$]|\\[()\[\]]|\\q?quad\b|\\[,;: !]|~"
    r"|\\(?:text|mathrm|textrm)\{(?:[\s,]*|[^{}$]{0,40}\b(?:and|or)\b[^{}$]{0,40})\}"  # \text{ and }
    r"|\b(?:and|or)\b|[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=)*")
_HOPE = re.compile(r"\.?\s*I hope\b.*$", re.IGNORECASE)  # "The final answer is 5. I hope it is correct."
_ANY_MATH = re.compile(r"\d|\$|\\\(|\\\[")
# A digit-group separator of a number written with groups of three: "1\,000", "1{,}000", "11,\!111",
# "1~000", "1 000" (a plain space: Math-Verify reads "$1 000$" as 1*0).
_GROUP_SEPARATOR = re.compile(r"(?<![\d.,])(\d{1,3})(?:\{,\s*\}|,?\\!\s*|\\[,;: ]|~| )(?=\d{3}(?!\d))")

log = logging.getLogger(__name__)
fast_path = {"equal": 0, "unequal": 0, "rejected": 0}  # checks settled without a worker
_bad_golds: set[str] = set()  # normalised golds Math-Verify could not parse
_good_golds: set[str] = set()  # ... and those it could


# ---- extraction ----------------------------------------------------------------------------


def extract_math_answer(text: str | None) -> str | None:
    """The final answer in `text`, from its final part only (`split_reasoning`: after the last
    </think>; none while a <think> is still open):

    1. the last \\boxed{}/\\fbox{}, joined with the boxes just before it when only separators
       stand between them ("\\boxed{1}, \\boxed{2}" and "x = \\boxed{1} and y = \\boxed{2}" -> "1, 2");
       a later "final answer is X" with a number or math in X overrides it (a restated answer);
    2. else <answer>…</answer>, else "final answer is X";
    3. else the free-text fallback: FREE_TEXT + the last MAX_FREE_TEXT_CHARS of the final text, which
       the worker hands to Math-Verify's own extraction (it takes the last expression: "… is $34$.").
       None when that text has no digit and no math at all (nothing to extract), or holds a
       \\boxed{ never closed (a truncated answer is no answer).

    So the answer is either a short string (the explicit answer) or a FREE_TEXT-marked tail; the
    worker behind verify_math_batch understands the marker (so do answer-vs-answer checks). Never raises; linear time.
    """
    _, text = split_reasoning(text)  # the final part; None: a <think> never closed, no answer yet
    if text is None:
        return None
    boxed = boxed_answer(text)
    phrase = _final_answer_phrase(text)
    if boxed and phrase and phrase[0] > boxed[0] and _ANY_MATH.search(phrase[1]):
        return phrase[1]
    if boxed:
        return boxed[1]
    found = last_answer_block(text) or (phrase[1] if phrase else None)
    if found or any(cmd in text for cmd in _BOX_COMMANDS):  # a box never closed: no final answer
        return found
    return _free_text(text)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} or \\fbox{...} with balanced braces (also "\\boxed 5")."""
    for _, _, content in _boxes_from_end(text):
        return content
    return None


def boxed_answer(text: str) -> tuple[int, str] | None:
    """(start, answer) of the last box, joined with the boxes before it that only separators
    (`_BETWEEN_BOXES`: commas, "and", "\\quad", "y =", math delimiters) divide from it."""
    contents: list[str] = []
    last = front = -1  # start of the last box; of the earliest box joined so far
    for start, end, content in _boxes_from_end(text):
        if front != -1:
            between = text[end:front]
            if len(between) > _MAX_BETWEEN_BOXES or not _BETWEEN_BOXES.fullmatch(between):
                break
        if not contents or content != contents[-1]:  # "\\boxed{4} \\boxed{4}" is one answer
            contents.append(content)
        last, front = (start if last == -1 else last), start
    return (last, ", ".join(reversed(contents))) if contents else None


def _boxes_from_end(text: str):
    """(start, end, content) of each complete \\boxed/\\fbox, last first; at most _MAX_BOX_TRIES looked at."""
    ends = [len(text), len(text)]
    for _ in range(_MAX_BOX_TRIES):
        starts = [text.rfind(cmd, 0, end) for cmd, end in zip(_BOX_COMMANDS, ends)]
        i = max(starts)
        if i == -1:
            return
        which = starts.index(i)
        ends[which] = i
        got = _braced_argument(text, i + len(_BOX_COMMANDS[which]))
        if got:
            yield i, got[1], got[0]


def _braced_argument(text: str, i: int) -> tuple[str, int] | None:
    """(content, end) of the {...} group starting at text[i] (after spaces); "\\boxed 5": the next word."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        word = text[i : i + MAX_ANSWER_CHARS].split(None, 1)[0] if text[i - 1] == " " else ""
        return (word.rstrip("$."), i + len(word)) if word.rstrip("$.") else None
    j = _group_end(text, i)
    return (text[i + 1 : j].strip(), j + 1) if j != -1 and text[i + 1 : j].strip() else None


def _group_end(text: str, i: int) -> int:
    """Index of the brace closing the one at text[i]; -1 if never closed within MAX_ANSWER_CHARS."""
    depth = 0
    for j in range(i, min(len(text), i + MAX_ANSWER_CHARS)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _final_answer_phrase(text: str) -> tuple[int, str] | None:
    """(position, X) for "... the final answer is X" (to the end of that line), the Minerva-style phrasing."""
    i = text.lower().rfind("final answer is")
    if i == -1:
        return None
    rest = text[i + len("final answer is") :].lstrip(" :")
    line = rest[:MAX_ANSWER_CHARS].split("\n", 1)[0].strip()
    line = _HOPE.sub("", line).strip().rstrip(".").strip()  # "$28\\%$. I hope it is correct."
    line = line.strip("$").strip()
    return (i, line) if line else None


def _free_text(text: str) -> str | None:
    """FREE_TEXT + the tail of `text` for Math-Verify's extraction; None when it holds no math.

    The tail starts after an even number of unescaped "$" of the full text, so inline math keeps its
    pairing ("… $x$ …" cut inside a pair would pair every later "$" wrongly).
    """
    text = text.replace("\x00", "").strip()
    start = max(0, len(text) - MAX_FREE_TEXT_CHARS)
    if start:
        head = text[:start]
        if (head.count("$") - head.count("\\$")) % 2:  # the cut falls inside $…$: start after its end
            close = text.find("$", start)
            start = close + 1 if close != -1 else start
    tail = text[start:].strip()
    if not _ANY_MATH.search(tail):
        return None
    return FREE_TEXT + _GROUP_SEPARATOR.sub(r"\1", tail)


def is_free_text(answer: str | None) -> bool:
    """True for the free-text fallback of extract_math_answer (a marked tail, not a bare answer)."""
    return isinstance(answer, str) and answer.startswith(FREE_TEXT)


# ---- normalisation and pre-checks -----------------------------------------------------------


def normalize_answer(text: str) -> str:
    """Rewrite forms Math-Verify misreads; the result is also what the worker receives."""
    s = text.replace("\x00", "").strip()
    for _ in range(3):  # nested wrappers, e.g. "**$\\text{5}$**"
        before = s
        if len(s) > 4 and s.startswith("**") and s.endswith("**"):
            s = s[2:-2].strip()  # markdown bold: "**1/3**" parses to 1 otherwise
        if len(s) > 2 and s.startswith("$") and s.endswith("$") and _one_math_span(s):
            s = s.strip("$").strip()
        s = _unwrap_command(s)
        s = s.rstrip(".").rstrip() if not s.endswith("..") else s  # a sentence's period, not "\\ldots"
        if s == before:
            break
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = _GROUP_SEPARATOR.sub(r"\1", s)  # "1\\,000" -> "1000"
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")  # "1,234" is a number here, not the tuple (1, 234)
    return s


def _one_math_span(s: str) -> bool:
    """"$…$" or "$$…$$" with no other unescaped "$" inside ("$1$ and $2$" is two spans)."""
    inner = s.strip("$")
    return "$" not in inner.replace("\\$", "")


def _unwrap_command(s: str) -> str:
    """"\\text{X}" -> "X" when one wrapper spans the whole string."""
    for cmd in _WRAPPERS:
        if s.startswith(cmd + "{") and _group_end(s, len(cmd)) == len(s) - 1:
            return s[len(cmd) + 1 : -1].strip()
    return s


def _precheck(pred: str | None, gold: str | None) -> float | None:
    """A score when the (normalised) pair is settled without Math-Verify, else None."""
    if not pred or not gold:
        return 0.0
    if pred == gold:
        return 1.0
    if max(len(pred), len(gold)) > 100:  # keep int() away from huge digit strings (it raises)
        return None
    if _DECIMAL.fullmatch(pred) and _DECIMAL.fullmatch(gold) and Fraction(pred) == Fraction(gold):
        return 1.0  # "18" == "18.0"
    if _INTEGER.fullmatch(pred) and _INTEGER.fullmatch(gold):
        return 0.0  # two different integers: no notation can make them equal
    return None


def _explosive(pred: str, gold: str) -> bool:
    """Shapes that stall Math-Verify for seconds or forever, and that no gold of this kind has:
    brackets nested deeper than MAX_NESTING, or a numeric power tower when the gold has none (so
    "2^{2^{3}}" against a gold of 256 is a false 0.0: rare, and the price of never hanging)."""
    depth = deepest = 0
    for ch in pred:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    if deepest > MAX_NESTING:
        return True
    return _NESTED_POWER.search(pred) is not None and _NESTED_POWER.search(gold) is None


def _prepare(pred, gold) -> tuple[float | None, str, str]:
    """(fast-path score or None, normalised pred, normalised gold) for one pair. Never raises.

    A missing or empty gold is recorded in `_bad_golds` (the caller then answers None).
    """
    try:
        gold = (gold if is_free_text(gold) else normalize_answer(gold)) if isinstance(gold, str) else ""
        if not gold:
            _remember_gold(gold, parsable=False)
            return None, "", gold
        if is_free_text(pred):  # already bounded and cleaned by _free_text: Math-Verify extracts
            return (None, pred, gold) if not _explosive(pred, gold) else _rejected(gold)
        if not isinstance(pred, str) or len(pred) > MAX_PRED_CHARS:
            return _rejected(gold)
        pred = normalize_answer(pred)
        if _explosive(pred, gold):
            return _rejected(gold)
        score = _precheck(pred, gold)
        if score is not None:
            fast_path["equal" if score else "unequal" if pred else "rejected"] += 1
        return score, pred, gold
    except Exception:  # a bizarre string must cost this pair, not the batch
        return 0.0, "", ""


def _rejected(gold: str) -> tuple[float, str, str]:
    fast_path["rejected"] += 1
    return 0.0, "", gold


# ---- the shared pool and the public checks ---------------------------------------------------

_pool: VerifierPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> VerifierPool:
    """The process-wide verifier pool, started on first use and stopped at exit."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.closed or _pool.owner_pid != os.getpid():  # new after a fork
            _pool = VerifierPool(workers=_default_workers())
        return _pool


def _default_workers() -> int:
    """R1KIT_VERIFY_WORKERS, else min(4, CPUs): checks are short, and the trainer needs the cores."""
    default = min(4, os.cpu_count() or 1)
    try:
        return max(1, int(os.environ.get("R1KIT_VERIFY_WORKERS", default)))
    except ValueError:
        log.warning("R1KIT_VERIFY_WORKERS=%r is not an integer; using %d", os.environ["R1KIT_VERIFY_WORKERS"], default)
        return default


def shutdown_pool() -> None:
    """Stop the shared pool's workers (idempotent); the next check starts a new pool."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
        _pool = None


atexit.register(shutdown_pool)


def verify_math_batch(pairs: list[tuple[str | None, str]], timeout: float | None = None) -> list[float | None]:
    """Score (pred, gold) pairs: 1.0 if Math-Verify finds them equal, else 0.0. Never raises.

    None instead of a score when Math-Verify cannot parse the gold (the sample is skipped, not
    scored wrong). Each distinct gold is parsed once (a probe when no pair needed a worker) and
    remembered: later pairs with an unparsable gold answer None at once.
    `timeout` (seconds, default the pool's 5.0) bounds each check; an overrunning check scores 0.0
    and its worker is replaced (see `verifier_stats()`). Pre-checks settle exact matches, equal
    decimals and unequal integers without a worker; a pred over MAX_PRED_CHARS, or of a shape that
    stalls Math-Verify (`_explosive`), scores 0.0 without one.
    Golds are trusted (they come from the dataset) and are not length-checked.
    """
    try:
        prepared = [_prepare(pred, gold) for pred, gold in pairs]
        scores = [score for score, _, _ in prepared]
        todo = [i for i, (score, _, gold) in enumerate(prepared) if score is None and gold not in _bad_golds]
        checks = [prepared[i][1:] for i in todo]  # these need Math-Verify
        golds = {gold for _, _, gold in prepared if _gold_unknown(gold)} - {gold for _, gold in checks}
        checks += [("", gold) for gold in sorted(golds)]  # probes: is this new gold parsable at all?
        if checks:
            checked = get_pool().check_batch(checks, timeout=timeout)
            for i, score in zip(todo, checked):
                scores[i] = score
            for (_, gold), score in zip(checks, checked):
                _remember_gold(gold, score is not None)
        return [None if s is None or gold in _bad_golds else float(s) for s, (_, _, gold) in zip(scores, prepared)]
    except Exception:  # the reward contract: never raise
        log.exception("verify_math_batch failed; scoring the batch 0.0")
        return [0.0] * len(pairs)


def _gold_unknown(gold: str) -> bool:
    """Not yet known to parse or not (numbers always parse)."""
    return gold not in _good_golds and gold not in _bad_golds and not _DECIMAL.fullmatch(gold)


def _remember_gold(gold: str, parsable: bool) -> None:
    if len(gold) > MAX_PRED_CHARS:  # a free-text answer standing as the gold (cons@k votes): not kept
        return
    known = _good_golds if parsable else _bad_golds
    if len(known) > 100_000:  # a bound, not an expected size: datasets have far fewer answers
        known.clear()
    known.add(gold)


def verify_math(pred: str | None, gold: str, timeout: float | None = None) -> float | None:
    """1.0 if `pred` and `gold` are the same mathematical answer, else 0.0 (see verify_math_batch)."""
    return verify_math_batch([(pred, gold)], timeout=timeout)[0]


def verifier_stats() -> dict[str, int]:
    """Counters: fast-path outcomes plus the shared pool's checks, timeouts, errors and restarts."""
    pool_stats = _pool.stats.as_dict() if _pool is not None else {}
    return {**{f"fast_{k}": v for k, v in fast_path.items()}, **pool_stats}
