"""Arithmetic without eval: simpleeval restricted to numbers, operators and a few functions.

Every operation that can be slow in a single C call (a power, `round` with huge digits,
factorial, conversions of huge integers) is bounded before it runs. As a backstop, the
evaluation runs in a small pool of worker processes with a hard wall-clock limit: a
worker that overruns is killed and replaced, so no expression can hold the server's
threads, its event loop or its memory.

This module must not import Django: the worker processes import it on their own.
"""

from __future__ import annotations

import ast
import asyncio
import math
import multiprocessing
import operator
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import simpleeval
from pebble import ProcessPool

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
MAX_EXPONENT = 1000
MAX_RESULT_BITS = 4096
MAX_ROUND_DIGITS = 100
MAX_FACTORIAL = 500
TIME_LIMIT = 1.0  # seconds of wall clock in the worker, once it has started
POOL_WORKERS = 2

Number = int | float


class CalculationError(ValueError):
    """The expression is not arithmetic we agree to evaluate; the message says why."""


def calculate(expression: str) -> Number:
    """Evaluate `expression` (numbers, + - * / // % **, parentheses, a few functions)
    in a worker process; raises `CalculationError` saying why it was refused."""
    _check_size(expression)
    return run_limited(evaluate, expression)


async def calculate_async(expression: str) -> Number:
    """`calculate` for async code: the event loop and every thread stay free while the
    worker computes."""
    _check_size(expression)
    return await run_limited_async(evaluate, expression)


def evaluate(expression: str) -> Number:
    """Evaluate `expression` in this process, every operation bounded (no time limit)."""
    _check_size(expression)
    try:
        tree = ast.parse(expression.replace("^", "**").strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise CalculationError("That is not an arithmetic expression.") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculationError("The expression is too complex.")
    try:
        return _Arithmetic().eval(expression, previously_parsed=tree.body)
    except simpleeval.InvalidExpression as exc:
        raise CalculationError(str(exc)) from None


def _check_size(expression: str) -> None:
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(
            f"The expression is too long ({len(expression):,} characters; "
            f"the limit is {MAX_EXPRESSION_CHARS})."
        )


# --- bounded operations -------------------------------------------------------------


def _power(base: Number, exponent: Number) -> Number:
    if abs(base) in (0, 1):
        return _arithmetic(operator.pow, base, exponent)
    if abs(exponent) > MAX_EXPONENT:
        raise CalculationError(f"The exponent is too large (the limit is {MAX_EXPONENT}).")
    exact = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
    if exact and base.bit_length() * exponent > MAX_RESULT_BITS * 2:
        raise CalculationError("The result is too large.")
    return _arithmetic(operator.pow, base, exponent)


def _round(number: Number, digits: int | None = None) -> Number:
    if digits is not None and (not isinstance(digits, int) or abs(digits) > MAX_ROUND_DIGITS):
        raise CalculationError(f"round: at most {MAX_ROUND_DIGITS} digits either way.")
    return round(number, digits) if digits is not None else round(number)


def _factorial(number: Number) -> int:
    if not isinstance(number, int) or not 0 <= number <= MAX_FACTORIAL:
        raise CalculationError(f"factorial: at most {MAX_FACTORIAL}, of a whole number.")
    return math.factorial(number)


def _arithmetic(function: Callable[..., Number], *arguments: Number, name: str = "") -> Number:
    """Run one operation (the function `name` when it is one), its Python errors told
    in words."""
    try:
        return function(*arguments)
    except CalculationError:
        raise
    except ZeroDivisionError:
        raise CalculationError("Division by zero.") from None
    except OverflowError:
        raise CalculationError("The result is too large.") from None
    except (TypeError, ValueError) as exc:
        reason = str(exc).rstrip(".")
        raise CalculationError(f"{name}: {reason}." if name else f"{reason}.") from None


def _binary(function: Callable[[Number, Number], Number]) -> Callable[[Number, Number], Number]:
    return lambda left, right: _arithmetic(function, left, right)


_OPERATORS: dict[type[ast.AST], Callable[..., Number]] = {
    ast.Add: _binary(operator.add),
    ast.Sub: _binary(operator.sub),
    ast.Mult: _binary(operator.mul),
    ast.Div: _binary(operator.truediv),
    ast.FloorDiv: _binary(operator.floordiv),
    ast.Mod: _binary(operator.mod),
    ast.Pow: _power,
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": _round,
    "sqrt": math.sqrt,
    "pow": _power,
    "factorial": _factorial,
    "min": min,
    "max": max,
}


class _Arithmetic(simpleeval.SimpleEval):
    """simpleeval with numbers only: no names, strings, attributes, subscripts."""

    def __init__(self) -> None:
        super().__init__(operators=_OPERATORS, functions=_FUNCTIONS, names={})
        allowed = (ast.UnaryOp, ast.BinOp, ast.Call, ast.Constant)
        self.nodes = {kind: self.nodes[kind] for kind in allowed}

    def _eval(self, node: ast.AST) -> Any:
        if type(node) not in self.nodes:
            raise CalculationError(f"{type(node).__name__} is not allowed in a calculation.")
        return _checked(super()._eval(node))

    def _eval_call(self, node: ast.Call) -> Any:
        if node.keywords:
            raise CalculationError("Keyword arguments are not allowed.")
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise CalculationError(f"Only these functions are allowed: {', '.join(_FUNCTIONS)}.")
        arguments = [self._eval(argument) for argument in node.args]
        return _arithmetic(_FUNCTIONS[node.func.id], *arguments, name=node.func.id)

    @staticmethod
    def _eval_constant(node: ast.Constant) -> Any:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculationError("Only numbers are allowed.")
        return node.value


def _checked(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise CalculationError("The result is too large.")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("The result is too large.")
    if isinstance(value, complex):
        raise CalculationError("The result is not a real number.")
    return value


# --- the worker pool ----------------------------------------------------------------

_pool: ProcessPool | None = None
_pool_lock = threading.Lock()


def _workers() -> ProcessPool:
    """The shared pool, started on first use. Workers are spawned, not forked: forking
    a server that runs threads can copy a lock held by another thread."""
    global _pool
    with _pool_lock:
        if _pool is None or not _pool.active:
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPool(max_workers=POOL_WORKERS, context=context)
        return _pool


def run_limited(function: Callable[..., Any], *arguments: Any, limit: float = TIME_LIMIT) -> Any:
    """Run `function(*arguments)` in a worker process; past `limit` seconds the worker is
    killed (the pool starts another) and `CalculationError` says so."""
    future = _workers().schedule(function, args=arguments, timeout=limit)
    try:
        return future.result()
    except FutureTimeout:
        raise _too_long(limit) from None


async def run_limited_async(
    function: Callable[..., Any], *arguments: Any, limit: float = TIME_LIMIT
) -> Any:
    """`run_limited`, awaited: nothing in this process waits on the worker."""
    future = _workers().schedule(function, args=arguments, timeout=limit)
    try:
        return await asyncio.wrap_future(future)
    except FutureTimeout:
        raise _too_long(limit) from None


def _too_long(limit: float) -> CalculationError:
    return CalculationError(f"The calculation took too long (limit {limit:g} s).")
