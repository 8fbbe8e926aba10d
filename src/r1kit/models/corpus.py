"""The default corpus for training r1kit's small BPE tokenizer.

`default_corpus()` returns a fixed list of lines: the R1-Zero prompt template (report Table 1)
filled with sample problems, generated arithmetic (sums, per-digit carry steps, tagged worked
solutions), countdown-style puzzles, and plain English sentences about reasoning and math.
The template text is repeated many times so its words become single tokens (the prompt
prefix is paid for on every rollout, so it should be short in tokens).

Everything is generated from a fixed seed: the same corpus, hence the same tokenizer, on every
build. Digits never merge (the pre-tokenizer splits them), so the numbers here only teach the
tokenizer the operators and the words around them.

`bilingual_lines()` is extra text for a tokenizer whose models write worked arithmetic in English,
Chinese or both (r1kit.data.arithmetic, `language=`): worded traces in which the Chinese header and
step words (and the English ones) recur often enough that BPE makes each a single token. It is kept
apart so `default_corpus()`, and every tokenizer built on it, stays as it was.
"""

import random

# A copy of report Table 1, used only as tokenizer training text. The prompt-building template
# lives in r1kit.data.templates; if the two drift apart, only token counts change.
_R1_ZERO_TEXT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process "
    "here </think> <answer> answer here </answer>. User: {prompt}. Assistant:"
)

_SENTENCES = (
    "Let me think step by step about this problem before I answer.",
    "First, I add the ones digits, then the tens digits, and I carry when the sum is ten or more.",
    "Wait, I made a mistake in the previous step. Let me check the calculation again.",
    "The answer is correct because each digit was added with its carry.",
    "To solve the equation, we move every term to one side and simplify.",
    "We need to find a number that satisfies all of the given conditions.",
    "Therefore, the final answer is the sum of the two numbers.",
    "Reasoning carefully about each step makes the final result more reliable.",
    "The model learns to reflect on its own reasoning and to verify its answer.",
    "A reward is given only when the final answer matches the reference answer.",
    "Reinforcement learning improves the reasoning ability of language models.",
    "The policy samples a group of outputs for each question and compares their rewards.",
    "Multiply both sides by the same number, and the equation still holds.",
    "If the total is greater than the target, we should try a smaller number.",
    "Each number can only be used once, and we may use addition, subtraction, multiplication and division.",
    "Now I subtract the smaller value from the larger one and divide by two.",
    "Hmm, that does not work. Let me try another combination of the numbers.",
    "So the result is even, which means the remainder after division by two is zero.",
    "The sum of two odd numbers is always an even number.",
    "Let us verify: the left side equals the right side, so the solution is right.",
    "Please reason step by step, and put your final answer within the answer tags.",
    "This question asks for the value of an expression with several operations.",
    "Write down what is known, what is asked, and how they are related.",
    "Finally, we double check the answer by computing it in a different way.",
    "Adding the digits from right to left gives the correct sum.",
    "The carry from the previous column must be added to the next column.",
    "Using the numbers given, create an equation that equals the target number.",
    "Show your work in the think tags and return the final answer in the answer tags.",
    "A triangle has three sides, and the angles of a triangle add up to one hundred eighty degrees.",
    "The area of a rectangle is its length times its width; the perimeter is twice their sum.",
    "A prime number has exactly two divisors: one and itself.",
    "The greatest common divisor of two integers divides both of them without a remainder.",
    "A fraction is simplified by dividing the numerator and the denominator by the same factor.",
    "The probability of an event is the number of favorable outcomes over the number of possible outcomes.",
    "An average, or mean, is the total divided by the count of values.",
    "Squares and square roots are inverse operations, as are powers and logarithms.",
    "Suppose the statement were false; then we would reach a contradiction, so it must be true.",
    "By induction, if the claim holds for one case and for the next whenever it holds, it holds for all.",
    "Consider the function at the smallest and the largest value of the variable.",
    "Let x be the unknown quantity, and write an equation for the information in the question.",
    "Percentages compare a part with the whole, measured out of one hundred.",
    "The coordinates of a point describe its position on the horizontal and vertical axes.",
    "A sequence increases by a constant difference, so the next term follows the pattern.",
    "Negative numbers are less than zero; multiplying two negative numbers gives a positive product.",
    "Count the possibilities systematically so that nothing is missed or counted twice.",
    "Rounding a decimal to the nearest whole number changes its value slightly.",
    "Hold on, I should double-check whether this assumption is actually justified.",
    "Interesting, there seems to be a simpler approach that avoids the long computation.",
    "Alternatively, we could estimate the result first and compare it with the exact value.",
    "Given that the program must pass all tests, I will trace the code through an example input.",
    "The function returns a list of strings, and the loop iterates over every element.",
    "Good reasoning explains why each step follows from the previous one.",
    "In summary, breaking a hard problem into smaller parts often reveals the solution.",
    "The teacher wrote a question on the board, and the students solved it together.",
    "Everyone agreed that the explanation was clear, concise, and convincing.",
    "Quickly checking the units helps avoid simple errors in physics and chemistry.",
    "Her younger brother bought twelve apples, seven oranges and four bananas at the market.",
    "How many minutes are there in a day, and how many seconds in an hour?",
    "Once upon a time, a curious student wondered why the sky is blue during the day.",
    "Language models predict the next token given all of the previous tokens.",
    "Training uses gradient descent to adjust the weights and reduce the loss.",
    "Sampling with a higher temperature produces more diverse but less accurate outputs.",
    "The evaluation reports accuracy averaged over several samples for each problem.",
    "Readability matters: the response should be well formatted and written in one language.",
)

_PROBLEM_FORMS = (
    "What is {a} + {b}?",
    "Compute {a} + {b}",
    "What is {a} - {b}?",
    "What is {a} * {b}?",
    "Using the numbers [{a}, {b}, {c}], create an equation that equals {t}",
)


def _carry_steps(a: int, b: int) -> list[str]:
    """The per-digit working of a + b, least significant digit first."""
    steps, carry, i = [], 0, 1
    while a or b or carry:
        da, db = a % 10, b % 10
        s = da + db + carry
        steps.append(f"digit {i}: {da}+{db}+{carry}={s}, write {s % 10} carry {s // 10}")
        a, b, carry, i = a // 10, b // 10, s // 10, i + 1
    return steps


def _arithmetic_lines(rng: random.Random, n: int) -> list[str]:
    lines = []
    for _ in range(n):
        a, b = rng.randrange(10**4, 10**5), rng.randrange(10**4, 10**5)
        steps = "\n".join(_carry_steps(a, b))
        lines += [
            f"{a} + {b} = {a + b}",
            f"{max(a, b)} - {min(a, b)} = {abs(a - b)}",
            steps,
            f"<think>\n{steps}\n</think> <answer>{a + b}</answer>",
            f"<think>\n{a} + {b} = {a + b}\n</think> <answer>{a + b}</answer>",
        ]
    return lines


def _template_lines(rng: random.Random, n: int) -> list[str]:
    lines = []
    for k in range(n):
        a, b, c = rng.randrange(1, 10**5), rng.randrange(1, 10**5), rng.randrange(1, 100)
        problem = _PROBLEM_FORMS[k % len(_PROBLEM_FORMS)].format(a=a, b=b, c=c, t=rng.randrange(1, 100))
        lines.append(_R1_ZERO_TEXT.format(prompt=problem))
        lines.append(f"<|User|>{problem}<|Assistant|><think>\n")
    return lines


def default_corpus(seed: int = 0) -> list[str]:
    """The fixed tokenizer corpus (about 3,400 lines; the same list for the same seed)."""
    rng = random.Random(seed)
    return _template_lines(rng, 300) + _arithmetic_lines(rng, 300) + list(_SENTENCES) * 20


def bilingual_lines(seed: int = 0, n: int = 100) -> list[str]:
    """Worked solutions in "en", "zh" and "mixed" traces, with summaries (`n` problems per operator,
    5 digits; 9 * n lines). For build_tokenizer(default_corpus() + bilingual_lines())."""
    from r1kit.data.arithmetic import LANGUAGES, ArithmeticTask

    lines = []
    for op in ("+", "-", "*"):
        task = ArithmeticTask(digits=5, op=op, seed=seed)
        for ex in task.examples("train", n):
            lines += [task.solution(ex, show_steps=True, language=lang, summary=True) for lang in LANGUAGES]
    return lines
