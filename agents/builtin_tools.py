"""Tools that need nothing but their arguments. The apps that own data register the
tools that touch it (conversations, accounts, payments: each app's `tools.py`)."""

from __future__ import annotations

from agents.calculator import CalculationError, calculate_async
from agents.tools import ToolContext, ToolError, tool


@tool()
async def calculate(context: ToolContext, expression: str) -> str:
    """Evaluate an arithmetic expression exactly (+ - * / // % ** and parentheses).

    expression: the arithmetic to evaluate, for example 17*23 or (2+3)**2
    """
    try:
        # Awaited on the event loop: no thread waits while the worker computes.
        return str(await calculate_async(expression))
    except CalculationError as exc:
        raise ToolError(str(exc)) from None
