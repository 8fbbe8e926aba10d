"""A safe evaluator for Countdown equations: + - * / on integer literals, nothing else.

Model output is untrusted text, so it is never passed to `eval`. The string is parsed with `ast`
and walked by hand; anything but integer literals, the four binary operators, unary minus/plus
and parentheses is rejected. Arithmetic is exact (`Fraction`), so 7/2*2 == 7 holds and no
float rounding can turn a wrong equation into a right one. Length and depth are bounded, so a
hostile string costs microseconds.

    >>> evaluate("(44 + 19) - 35")
    (Fraction(28, 1), [44, 19, 35])
"""

from __future__ import annotations

import ast
from fractions import Fraction

MAX_CHARS = 200  # longer than any honest 3-6 number equation
MAX_DEPTH = 32  # expression-tree depth; honest equations need < 12

_BINOPS = {
    ast.Add: lambda x, y: x + y,
    ast.Sub: lambda x, y: x - y,
    ast.Mult: lambda x, y: x * y,
    ast.Div: lambda x, y: x / y,  # Fraction division; ZeroDivisionError is caught by evaluate
}


class UnsafeExpression(ValueError):
    """The text is not a plain arithmetic expression."""


def evaluate(text: str) -> tuple[Fraction, list[int]] | None:
    """Value and the integer literals (in order) of `text`, or None if it is not allowed.

    None covers: too long, syntax errors, any disallowed node (names, calls, attributes, power,
    floats, strings, ...), too deep, and division by zero.
    """
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        return None
    try:
        tree = ast.parse(text.strip(), mode="eval")
        numbers: list[int] = []
        value = _eval(tree.body, numbers, 0)
        return value, numbers
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError, MemoryError, TypeError):
        return None


def _eval(node: ast.AST, numbers: list[int], depth: int) -> Fraction:
    if depth > MAX_DEPTH:
        raise UnsafeExpression("too deep")
    if isinstance(node, ast.Constant) and type(node.value) is int:  # bool is an int subclass
        numbers.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left = _eval(node.left, numbers, depth + 1)
        right = _eval(node.right, numbers, depth + 1)
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand, numbers, depth + 1)
        return -value if isinstance(node.op, ast.USub) else value
    raise UnsafeExpression(type(node).__name__)
