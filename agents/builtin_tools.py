"""Tools that need nothing but their arguments. The apps that own data register the
tools that touch it (conversations, accounts, payments: each app's `tools.py`)."""

from __future__ import annotations

from agents.calculator import CalculationError
from agents.calculator import calculate as evaluate
from agents.tools import ToolContext, ToolError, tool


@tool()
def calculate(context: ToolContext, expression: str) -> str:
    """Evaluate an arithmetic expression exactly (+ - * / // % ** and parentheses).

    expression: the arithmetic to evaluate, for example 17*23 or (2+3)**2
    """
    try:
        return str(evaluate(expression))
    except CalculationError as exc:
        raise ToolError(str(exc)) from None
