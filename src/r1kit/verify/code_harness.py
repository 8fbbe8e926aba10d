"""The test harness the code reward runs *inside* the sandbox (standard library only, Python 3.8+).

    python harness.py            # job dir holds solution.py and tests.py; stdin's first line a nonce

It runs the model's program (as module "solution", so an `if __name__ == "__main__":` block
stays off), then the assert-style tests with every `assert` statement scored on
its own (a failing assert, or one whose expression raises, counts as failed and the tests go on),
and writes one line on the original stdout:

    <nonce> <passed> <total> <clean>

where `total` is max(assert statements in the test code, asserts executed) and `clean` is 1 when
the test code ran to its end without an exception outside an assert. Nothing else is trusted:
no result line (the program called os._exit, hung, or was killed) scores 0.

What this defends against: a program that exits early (`sys.exit(0)` / SystemExit is caught, and
`os._exit(0)` leaves no result line), prints a fake result (it does not know the nonce, read from
stdin before the program runs), or floods stdout (the program's fds 1 and 2 go to /dev/null).
What it does not: code that inspects the harness's own frames, or returns objects whose `__eq__`
always answers True. Containment itself is the sandbox's job (r1kit.sandbox).
"""

import ast
import os
import sys


class _ScoreAsserts(ast.NodeTransformer):
    """`assert X, msg` -> try: assert X, msg / except BaseException: _r1k_fail() / else: _r1k_pass()."""

    def __init__(self):
        self.count = 0

    def visit_Assert(self, node):
        self.count += 1
        call = lambda name: ast.Expr(ast.Call(ast.Name(name, ast.Load()), [], []))  # noqa: E731
        handler = ast.ExceptHandler(ast.Name("BaseException", ast.Load()), None, [call("_r1k_fail")])
        return ast.copy_location(ast.Try([node], [handler], [call("_r1k_pass")], []), node)


def main():
    nonce = sys.stdin.readline().strip()
    result_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # the program's prints and reads go nowhere
    with open("solution.py", encoding="utf-8", errors="replace") as f:
        solution = f.read()
    with open("tests.py", encoding="utf-8", errors="replace") as f:
        tests = f.read()
    counts = {"pass": 0, "fail": 0}
    scorer = _ScoreAsserts()
    try:
        test_code = compile(ast.fix_missing_locations(scorer.visit(ast.parse(tests))), "tests.py", "exec")
    except SyntaxError:
        test_code = None
    env = {"__name__": "solution", "__builtins__": __builtins__,  # a main block in the program stays off
           "_r1k_pass": lambda: counts.__setitem__("pass", counts["pass"] + 1),
           "_r1k_fail": lambda: counts.__setitem__("fail", counts["fail"] + 1)}
    clean = _run(solution, "solution.py", env) and test_code is not None
    if clean:
        env["__name__"] = "__main__"
        clean = _run(test_code, "tests.py", env)
    total = max(scorer.count, counts["pass"] + counts["fail"])
    passed = counts["pass"] if test_code is not None else 0
    os.write(result_fd, ("\n%s %d %d %d\n" % (nonce, passed, total, int(bool(clean)))).encode())
    os._exit(0)  # skip atexit hooks and finalizers the program may have planted


def _run(code, filename, env) -> bool:
    """exec `code` in `env`; False if it raised anything (SystemExit included)."""
    try:
        exec(compile(code, filename, "exec") if isinstance(code, str) else code, env)
        return True
    except BaseException:
        return False


if __name__ == "__main__":
    main()
