"""Arithmetic without eval: an AST walker that knows numbers and operators, nothing else.

Names, attributes, calls other than a few math functions, strings, subscripts and
comprehensions are refused. Size, exponent, result and time are limited, so no
expression can hang the process or eat its memory.
"""

from __future__ import annotations

import ast
import math
import operator
import time
from collections.abc import Callable
from typing import Any

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
MAX_EXPONENT = 1000
MAX_RESULT_BITS = 4096
TIME_LIMIT = 0.1  # seconds


class CalculationError(ValueError):
    """The expression is not arithmetic we agree to evaluate; the message says why."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "sqrt": math.sqrt,
    "min": min,
    "max": max,
}


def calculate(expression: str) -> int | float:
    """Evaluate `expression` (numbers, + - * / // % **, parentheses, a few functions)."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(
            f"The expression is too long ({len(expression):,} characters; "
            f"the limit is {MAX_EXPRESSION_CHARS})."
        )
    try:
        tree = ast.parse(expression.replace("^", "**").strip(), mode="eval")
    except SyntaxError:
        raise CalculationError("That is not an arithmetic expression.") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculationError("The expression is too complex.")
    return _Walker(time.monotonic() + TIME_LIMIT).visit(tree.body)


class _Walker:
    def __init__(self, deadline: float):
        self.deadline = deadline

    def visit(self, node: ast.AST) -> Any:
        if time.monotonic() > self.deadline:
            raise CalculationError("The calculation took too long.")
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise CalculationError(f"{type(node).__name__} is not allowed in a calculation.")
        return _checked(method(node))

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculationError("Only numbers are allowed.")
        return node.value

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        function = _UNARY.get(type(node.op))
        if function is None:
            raise CalculationError("That operator is not allowed.")
        return function(self.visit(node.operand))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        function = _BINARY.get(type(node.op))
        if function is None:
            raise CalculationError("That operator is not allowed.")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            return function(left, right)
        except ZeroDivisionError:
            raise CalculationError("Division by zero.") from None
        except OverflowError:
            raise CalculationError("The result is too large.") from None

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise CalculationError(f"Only these functions are allowed: {', '.join(_FUNCTIONS)}.")
        if node.keywords:
            raise CalculationError("Keyword arguments are not allowed.")
        try:
            return _FUNCTIONS[node.func.id](*(self.visit(a) for a in node.args))
        except (TypeError, ValueError) as exc:
            raise CalculationError(f"{node.func.id}: {exc}.") from None


def _check_power(base: Any, exponent: Any) -> None:
    if abs(exponent) > MAX_EXPONENT and abs(base) not in (0, 1):
        raise CalculationError(f"The exponent is too large (the limit is {MAX_EXPONENT}).")


def _checked(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise CalculationError("The result is too large.")
    if isinstance(value, complex):
        raise CalculationError("The result is not a real number.")
    return value
