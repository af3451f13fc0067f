"""Staff's usage pages in the admin: per user, one user's drill-down, CSV, changelist."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import UsageRecord, UserBudget

PER_USER = "/admin/agents/usagerecord/per-user/"


@pytest.fixture
def staff(make_user) -> Client:
    client = Client()
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def usage(user, other_user, conversation):
    now = timezone.now()
    rows = [
        (user, now, "chat", "gpt-4o", "0.50", "ok", False),
        (user, now, "summary", "gpt-4o-mini", "0.25", "ok", False),
        (user, now, "chat", "gpt-4o", "0", "ok", True),
        (user, now, "chat", "gpt-4o", "0", "error", False),
        (user, now - timedelta(days=400), "chat", "gpt-4-turbo", "3.00", "ok", False),
        (other_user, now, "chat", "llama-local", None, "ok", False),
    ]
    for owner, when, purpose, model, cost, outcome, hit in rows:
        UsageRecord.objects.create(
            user=owner,
            conversation=conversation if owner == user else None,
            purpose=purpose,
            model_requested=model,
            model_served=model,
            prompt_tokens=100,
            completion_tokens=50,
            cost=None if cost is None else Decimal(cost),
            cost_saved=Decimal("0.50") if hit else None,
            cache_hit=hit,
            outcome=outcome,
            created_at=when,
        )
    UserBudget.objects.create(user=user, monthly_usd=Decimal("5.00"))


def test_per_user_page_shows_periods_budget_errors_and_cache_savings(staff, usage, user):
    page = staff.get(PER_USER).content.decode()
    row = page[page.index(f'/per-user/{user.pk}/">alice') :].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    # today: 4 calls, 450 tokens served (the cache hit's 150 apart), $0.75; all time
    # adds last year's $3.
    assert cells[:9] == ["4", "450", "$0.75", "4", "450", "$0.75", "5", "600", "$3.75"]
    assert "$5" in row and "$4.25" in row  # budget and what is left this month
    # errors, cache hits, the tokens they replayed, saved
    assert cells[-4:] == ["1", "1", "150", "$0.5"]
    assert "mallory" in page


def test_per_user_page_is_for_staff_only(usage, logged_in, user):
    assert logged_in.get(PER_USER).status_code == 302  # to the admin login
    assert Client().get(PER_USER).status_code == 302


def test_staff_without_permission_to_view_usage_is_refused(make_user, usage):
    client = Client()
    client.force_login(make_user("helpdesk", is_staff=True))
    assert client.get(PER_USER).status_code == 403
    assert client.get(f"{PER_USER}export.csv").status_code == 403


def test_drill_down_shows_chart_breakdowns_and_latest_records(staff, usage, user):
    page = staff.get(f"{PER_USER}{user.pk}/").content.decode()
    cost_chart = page[page.index('id="cost-per-day"') :].split("</svg>")[0]
    assert cost_chart.count("<rect") == 30
    assert 'height="100.00"' in cost_chart  # today's bar is the tallest
    by_model = page[page.index('id="usage-by-model"') :].split("</table>")[0]
    assert by_model.index("gpt-4-turbo") < by_model.index("gpt-4o<")  # biggest cost first
    by_purpose = page[page.index('id="usage-by-purpose"') :].split("</table>")[0]
    assert "summary" in by_purpose and "$0.25" in by_purpose
    assert "cache hit, saved $0.5" in page


def test_csv_export_has_one_row_per_user(staff, usage, user):
    response = staff.get(f"{PER_USER}export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response["Content-Type"] == "text/csv"
    alice = next(r for r in rows if r["user__username"] == "alice")
    assert (alice["all_requests"], Decimal(alice["all_cost"])) == ("5", Decimal("3.75"))
    assert [r["user__username"] for r in rows] == ["alice", "mallory"]


def test_one_users_records_export_as_csv(staff, usage, user):
    response = staff.get(f"{PER_USER}{user.pk}/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 5 and {r["model_served"] for r in rows} >= {"gpt-4o", "gpt-4-turbo"}


def test_changelist_filters_by_outcome_and_cache_hit(staff, usage):
    page = staff.get("/admin/agents/usagerecord/", {"outcome": "error"}).content.decode()
    assert page.count('class="field-outcome"') == 1
    page = staff.get("/admin/agents/usagerecord/", {"cache_hit__exact": "1"}).content.decode()
    assert page.count('class="field-cache_hit"') == 1
    assert "Usage per user" in page


def test_usage_csv_defuses_formulas_from_upstream_text_case_12(staff, user, make_user):
    rogue = make_user("=HYPERLINK(1)")
    for owner, served in [(user, "=cmd|' /C calc'!A0"), (rogue, "@SUM(1)")]:
        UsageRecord.objects.create(
            user=owner, model_requested="gpt-4o", model_served=served, cost=Decimal("0.5")
        )
    records = staff.get(f"{PER_USER}{user.pk}/export.csv")
    summary = staff.get(f"{PER_USER}export.csv")
    text = b"".join([*records.streaming_content, *summary.streaming_content]).decode()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'=HYPERLINK(1)" in cells
    assert not any(cell.startswith(("=", "@", "+")) for cell in cells)


def test_the_admin_index_links_to_usage_per_user(staff):
    page = staff.get("/admin/").content.decode()
    assert f'href="{PER_USER}"' in page


def test_free_calls_still_chart_requests_and_tokens_and_say_why_cost_is_empty(staff, user):
    for tokens in (100, 300):
        UsageRecord.objects.create(
            user=user, purpose="chat", model_requested="demo", model_served="demo",
            prompt_tokens=tokens, completion_tokens=0, cost=Decimal(0),
        )  # fmt: skip
    page = staff.get(f"{PER_USER}{user.pk}/").content.decode()
    requests = page[page.index('id="requests-per-day"') :].split("</svg>")[0]
    tokens = page[page.index('id="tokens-per-day"') :].split("</svg>")[0]
    assert 'height="100.00"' in requests and ">2</text>" in requests  # peak on the axis
    assert 'height="100.00"' in tokens and ">400</text>" in tokens
    assert 'id="cost-per-day"' not in page
    assert "every call was free" in page
    assert "Day (UTC)" in requests


def test_no_calls_show_an_empty_state_instead_of_blank_charts(staff, user):
    page = staff.get(f"{PER_USER}{user.pk}/").content.decode()
    assert "<svg" not in page.split('id="usage-by-model"')[0].split("Per day")[1]
    assert "No requests in these days." in page and "No tokens in these days." in page


def test_today_is_the_declared_zones_day_whatever_the_viewers_zone(staff, user, settings):
    """A staff member whose own zone is already on another date still sees today's calls."""
    from accounts.models import Profile

    settings.TIME_ZONE = "UTC"
    UsageRecord.objects.create(
        user=user, purpose="chat", model_requested="demo", model_served="demo",
        prompt_tokens=10, completion_tokens=0, cost=Decimal(0),
    )  # fmt: skip
    # UTC+14 is on tomorrow's date from noon UTC on, UTC-12 on yesterday's before noon.
    other_date = "Etc/GMT-14" if timezone.now().hour >= 12 else "Etc/GMT+12"
    boss = Profile.objects.for_user(staff.get("/admin/").wsgi_request.user)
    boss.time_zone = other_date
    boss.save()
    page = staff.get(PER_USER).content.decode()
    assert "Today (UTC)" in page
    row = page[page.index(f'/per-user/{user.pk}/">alice') :].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    assert cells[:2] == ["1", "10"]


def test_served_and_cache_hit_tokens_are_apart_in_the_csvs(staff, usage, user):
    response = staff.get(f"{PER_USER}export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    alice = next(r for r in rows if r["user__username"] == "alice")
    assert (alice["all_tokens"], alice["cache_hit_tokens"]) == ("600", "150")
    records = staff.get(f"{PER_USER}{user.pk}/export.csv")
    lines = list(csv.DictReader(io.StringIO(b"".join(records.streaming_content).decode())))
    hit = next(r for r in lines if r["cache_hit"] == "True")
    assert (hit["served_tokens"], hit["cache_hit_tokens"]) == ("0", "150")
    assert sum(int(r["served_tokens"]) for r in lines) == 600


def test_changelist_filters_calls_by_where_their_tokens_came_from(staff, usage):
    UsageRecord.objects.create(model_requested="gpt-4o", outcome="error", cost=Decimal(0))
    counts = {
        choice: staff.get("/admin/agents/usagerecord/", {"tokens": choice})
        .content.decode()
        .count('class="field-served_tokens"')
        for choice in ("served", "cache_hit", "none")
    }
    assert counts == {"served": 5, "cache_hit": 1, "none": 1}


def test_costs_export_as_plain_numbers_never_exponents(staff, user):
    UsageRecord.objects.create(user=user, model_requested="gpt-4o", cost=Decimal("0E-8"))
    for url in (f"{PER_USER}export.csv", f"{PER_USER}{user.pk}/export.csv"):
        text = b"".join(staff.get(url).streaming_content).decode()
        assert "E-" not in text and ",0E" not in text
