"""The tool registry and each built-in tool, against the real database."""

import asyncio
import inspect
import json
import time
from decimal import Decimal

import pytest
from django.core import mail

from accounts.models import Profile
from agents import calculator, tools
from agents.calculator import CalculationError, calculate
from agents.tools import ToolContext
from chatsite import db
from conversations.models import Conversation
from conversations.services import create_conversation
from payments.models import Payment

pytestmark = pytest.mark.django_db


def run(name: str, user, raw_arguments: str) -> str:
    """The tool's answer as the model is sent it (arguments that do not fit the
    signature are refused before the tool runs, as in the agent loop)."""
    tool = tools.get_tool(name)
    try:
        arguments = tool.parse_arguments(raw_arguments)
    except tools.ToolError as exc:
        return f"Error: {exc}"
    return tools.call_sync(tool, arguments, ToolContext(user=user)).for_model


class CountingBackend:
    """A payment backend that hands out its own references (configured by setting)."""

    moves_money = True

    def pay(self, payment: Payment) -> str:
        return f"counted-{payment.recipient}"


def test_schema_comes_from_the_signature_and_docstring():
    schema = tools.get_tool("make_payment").schema()["function"]

    assert schema["name"] == "make_payment"
    assert schema["description"].startswith("Pay an amount to a recipient")
    assert schema["parameters"]["required"] == ["recipient", "amount", "currency", "memo"]
    assert schema["parameters"]["properties"]["currency"] == {
        "type": "string",
        "description": "an ISO 4217 code such as EUR or USD",
    }
    assert schema["parameters"]["additionalProperties"] is False
    assert tools.get_tool("get_date").schema()["function"]["parameters"]["properties"] == {}


def test_sensitive_tools_are_policy_not_the_models_choice(settings):
    sensitive = {name for name, tool in tools.registry().items() if tool.is_sensitive}
    assert sensitive == {"delete_conversation", "send_email", "make_payment"}

    settings.AGENT_SENSITIVE_TOOLS = ["search"]
    assert tools.get_tool("search").is_sensitive
    # A tool flagged sensitive in code stays sensitive whatever the setting says.
    assert tools.get_tool("make_payment").is_sensitive


@pytest.mark.parametrize(
    ("expression", "result"),
    [("17*23", 391), ("2**10", 1024), ("(2+3)*4.5", 22.5), ("-7 // 2", -4), ("sqrt(16)", 4.0)],
)
def test_calculate_does_arithmetic(expression, result):
    assert calculate(expression) == result


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("__import__('os')", "Only these functions are allowed"),
        ("__import__('os').system('true')", "Only these functions are allowed"),
        ("(1).real", "Attribute is not allowed"),
        ("().__class__.__bases__", "Attribute is not allowed"),
        ("9**9**9", "The exponent is too large"),
        ("10**999 * 10**999 * 10**999", "The result is too large"),
        ("1" + "+1" * 50_000, "The expression is too long"),
        ("x", "Name is not allowed"),
        ("'a' * 3", "Only numbers are allowed"),
        ("[1, 2]", "List is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
    ],
)
def test_calculate_refuses_anything_but_arithmetic(attack, reason):
    with pytest.raises(CalculationError, match=reason):
        calculate(attack)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("round(1, -10**7)", "round: at most 100 digits"),
        ("round(1.5, 10**9)", "round: at most 100 digits"),
        ("factorial(10**5)", "factorial: at most 500"),
        ("pow(7, 10**6)", "The exponent is too large"),
        ("(2**1000) ** 999", "The result is too large"),
        ("sqrt(10**400)", "The result is too large"),
        ("1e308 * 10", "The result is too large"),
    ],
)
def test_calculator_bounds_every_slow_operation_case_1(expression, reason):
    started = time.monotonic()
    with pytest.raises(CalculationError, match=reason):
        calculate(expression)
    assert time.monotonic() - started < 2


def test_calculator_hard_time_limit_kills_the_worker_and_keeps_serving_case_1():
    started = time.monotonic()
    with pytest.raises(CalculationError, match="took too long"):
        calculator.run_limited(time.sleep, 30, limit=0.5)
    assert time.monotonic() - started < 5
    assert calculate("6*7") == 42


def test_calculate_tool_reports_refusals_as_readable_errors(user):
    huge = "9" * 100_000  # 100 kB of input
    assert run("calculate", user, json.dumps({"expression": huge})).startswith(
        "Error: The expression is too long (100,000 characters"
    )
    assert run("calculate", user, '{"expression": "9**9**9"}') == (
        "Error: The exponent is too large (the limit is 1000)."
    )


def test_search_finds_only_the_users_own_conversations(user, other_user):
    mine = create_conversation(user, title="Trip planning")
    mine.messages.create(role="user", content="We should visit the lighthouse in Brittany.")
    theirs = create_conversation(other_user, title="Secret lighthouse")
    theirs.messages.create(role="user", content="lighthouse lighthouse")

    results = tools.get_tool("search").function(ToolContext(user=user), "Lighthouse")

    assert results == [
        {
            "conversation": "Trip planning",
            "snippet": "We should visit the lighthouse in Brittany.",
            "link": mine.get_absolute_url(),
        }
    ]
    assert tools.get_tool("search").function(ToolContext(user=user), "nothing-like-this") == []


def test_get_date_is_iso_8601_in_the_users_time_zone(user, settings):
    settings.TIME_ZONE = "UTC"
    assert run("get_date", user, "{}").endswith("+00:00")
    Profile.objects.for_user(user)
    Profile.objects.filter(user=user).update(time_zone="Asia/Tokyo")
    result = run("get_date", user, "{}")
    assert result.endswith("+09:00") and "T" in result


def test_send_email_goes_through_djangos_email_backend(user):
    result = run("send_email", user, '{"to": "bob@example.com", "subject": "Hi", "body": "Lunch?"}')

    assert result == "Sent the email 'Hi' to bob@example.com."
    assert len(mail.outbox) == 1
    assert (mail.outbox[0].to, mail.outbox[0].body) == (["bob@example.com"], "Lunch?")
    assert run("send_email", user, '{"to": "not-an-address", "subject": "", "body": ""}') == (
        "Error: Not an email address: 'not-an-address'."
    )


@pytest.mark.parametrize(
    ("amount", "currency", "error"),
    [
        ('"-5"', "EUR", "The amount must be a positive number."),
        ('"0"', "EUR", "The amount must be a positive number."),
        ('"5.001"', "EUR", "The amount can have at most two decimal places."),
        (
            '"lots"',
            "EUR",
            "Argument 'amount': Value error, use plain decimal notation, such as 12.50.",
        ),
        ('"5"', "XYZ", "Not an ISO 4217 currency code: 'XYZ'."),
    ],
)
def test_make_payment_validates_before_recording(user, amount, currency, error):
    arguments = (
        f'{{"recipient": "Alice", "amount": {amount}, "currency": "{currency}", "memo": ""}}'
    )
    assert run("make_payment", user, arguments) == f"Error: {error}"
    assert not Payment.objects.exists()


def test_make_payment_records_a_decimal_in_the_ledger(user):
    arguments = '{"recipient": "Alice", "amount": 5, "currency": "eur", "memo": "lunch"}'
    result = run("make_payment", user, arguments)

    payment = Payment.objects.get()
    assert (payment.owner, payment.amount, payment.currency) == (user, Decimal("5.00"), "EUR")
    assert payment.status == Payment.Status.RECORDED
    assert result == f"Paid 5.00 EUR to Alice (reference ledger-{payment.pk})."


def test_payment_backend_is_chosen_by_setting(user, settings):
    settings.PAYMENT_BACKEND = "tests.test_tools.CountingBackend"
    run(
        "make_payment",
        user,
        '{"recipient": "Bob", "amount": "1.50", "currency": "USD", "memo": ""}',
    )

    payment = Payment.objects.get()
    assert (payment.reference, payment.status) == ("counted-Bob", Payment.Status.SENT)


def test_delete_conversation_only_deletes_the_users_own(user, other_user):
    mine = create_conversation(user)
    theirs = create_conversation(other_user)

    assert run("delete_conversation", user, f'{{"conversation_id": {theirs.pk}}}') == (
        f"Error: There is no conversation {theirs.pk} of yours."
    )
    assert run("delete_conversation", user, f'{{"conversation_id": {mine.pk}}}').startswith(
        "Deleted the conversation"
    )
    assert list(Conversation.objects.all()) == [theirs]


def test_a_tool_whose_output_begins_with_error_succeeds(user):
    def quote(context: ToolContext, text: str) -> str:
        """Repeat the text."""
        return text

    tool = tools.build_tool(quote)
    outcome = tools.call_sync(
        tool, tool.parse_arguments('{"text": "Error: 42"}'), ToolContext(user)
    )

    assert outcome.ok and outcome.content == "Error: 42"


def test_a_tool_that_raises_is_an_error(user):
    def broken(context: ToolContext) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    outcome = tools.call_sync(tools.build_tool(broken), {}, ToolContext(user))

    assert not outcome.ok
    assert outcome.for_model == "Error: the tool broken failed (RuntimeError)."


def test_arguments_are_validated_by_the_signature():
    tool = tools.get_tool("make_payment")
    good = '{"recipient": "Bob", "amount": 5, "currency": "EUR", "memo": "lunch"}'
    assert tool.parse_arguments(good)["amount"] == "5"  # exact text, never a float

    with pytest.raises(tools.ToolError, match="Missing argument: memo"):
        tool.parse_arguments('{"recipient": "Bob", "amount": "5", "currency": "EUR"}')
    with pytest.raises(tools.ToolError, match="Unknown argument: surprise"):
        tool.parse_arguments(good[:-1] + ', "surprise": 1}')
    with pytest.raises(tools.ToolError, match="'recipient'"):
        tool.parse_arguments(good.replace('"Bob"', "7"))


@pytest.mark.parametrize("amount", ['"0.01e5"', '"1E3"', '"Infinity"', '"1_000"', '"1,000"'])
def test_payment_card_shows_what_is_paid_case_6_exponents_are_refused(user, amount):
    arguments = json.loads(
        f'{{"recipient": "Alice", "amount": {amount}, "currency": "EUR", "memo": ""}}'
    )
    summary = describe(user, arguments)
    assert summary.startswith("This payment cannot be made: ")
    assert "Pay " not in summary
    assert run("make_payment", user, json.dumps(arguments)).startswith("Error: ")
    assert not Payment.objects.exists()


def test_payment_card_shows_what_is_paid_case_6_normalised_values(user):
    arguments = {"recipient": "  Bob   Smith ", "amount": "12.5", "currency": "eur", "memo": "x"}
    summary = describe(user, arguments)
    run("make_payment", user, json.dumps(arguments))
    payment = Payment.objects.get()
    assert summary == "Pay 12.50 EUR to Bob Smith (memo: “x”)."
    assert (payment.amount, payment.currency, payment.recipient) == (
        Decimal("12.50"),
        "EUR",
        "Bob Smith",
    )


def describe(user, arguments: dict) -> str:
    """The payment card's summary of a make_payment call."""
    return tools.get_tool("make_payment").summary(ToolContext(user=user), arguments)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("round(1, -10**7)", "round: at most 100 digits either way."),
        ("sqrt(-1)", "sqrt: math domain error."),
        ("min()", "min: min expected at least 1 argument, got 0."),
        ("(-8)**(1/3)", "The result is not a real number."),
    ],
)
def test_calculator_errors_read_as_one_sentence(expression, message):
    with pytest.raises(CalculationError) as caught:
        calculate(expression)
    assert str(caught.value) == message


@pytest.mark.django_db(transaction=True)
async def test_a_slow_calculation_holds_up_no_database_work_case_1(user):
    """The tool awaits its worker: a query asked for meanwhile is answered first."""
    finished: list[str] = []

    async def slow() -> None:
        with pytest.raises(CalculationError, match="took too long"):
            await calculator.run_limited_async(time.sleep, 30, limit=1.0)
        finished.append("calculation")

    async def query() -> None:
        await asyncio.sleep(0.1)  # the calculation has started
        await db.run(Conversation.objects.count)
        finished.append("query")

    await asyncio.gather(slow(), query())
    assert finished == ["query", "calculation"]
    assert inspect.iscoroutinefunction(tools.get_tool("calculate").function)
