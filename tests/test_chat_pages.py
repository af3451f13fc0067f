"""The chat's pages through views: tool steps people can read, the home composer,
the export without empty sections, and the favicon."""

import json

from django.contrib.staticfiles import finders
from django.urls import reverse

from agents.models import UsageRecord
from conversations.models import Conversation


def tool_message(conversation, name: str, arguments: dict, content: str):
    return conversation.messages.create(
        role="tool",
        tool_name=name,
        tool_arguments=json.dumps(arguments),
        tool_call_id=f"call_{name}",
        content=content,
    )


def page_of(client, conversation) -> str:
    return client.get(conversation.get_absolute_url()).content.decode()


def test_search_results_read_as_linked_titles_with_snippets(logged_in, conversation):
    rome = {"conversation": "Trip to Rome", "snippet": "…the Colosseum at dawn…"}
    hits = [
        rome | {"link": "/conversations/7/"},
        {"conversation": "Elsewhere", "snippet": "", "link": "https://evil.example/"},
    ]
    tool_message(conversation, "search", {"query": "rome"}, json.dumps(hits))
    html = page_of(logged_in, conversation)
    assert '<a href="/conversations/7/">Trip to Rome</a>' in html
    assert "…the Colosseum at dawn…" in html
    assert "\\u2026" not in html.split('class="tool-item"')[0]  # no escapes in the readable part
    assert 'href="https://evil.example/"' not in html  # only this site's pages become links
    assert "<span>Elsewhere</span>" in html
    assert '<details class="tool-item">' in html  # the raw call is one click away


def test_a_calculation_reads_as_an_equation(logged_in, conversation):
    tool_message(conversation, "calculate", {"expression": "17*23"}, "391")
    assert "<code>17*23 = 391</code>" in page_of(logged_in, conversation)


def test_the_date_reads_as_a_date(logged_in, conversation):
    tool_message(conversation, "get_date", {}, "2026-03-05T14:30:00+00:00")
    assert "Thursday 5 March 2026, 14:30" in page_of(logged_in, conversation)


def test_sensitive_tools_and_errors_read_as_one_line(logged_in, conversation):
    tool_message(
        conversation, "make_payment", {"amount": "5"}, "Paid 5.00 EUR to Alice (reference P1)."
    )
    tool_message(conversation, "calculate", {"expression": "1/0"}, "Error: division by zero")
    html = page_of(logged_in, conversation)
    assert '<p class="tool-step__line">Paid 5.00 EUR to Alice (reference P1).</p>' in html
    assert '<p class="tool-step__line tool-step__line--error">Error: division by zero</p>' in html


def test_a_malformed_search_result_falls_back_to_its_text(logged_in, conversation):
    tool_message(conversation, "search", {"query": "x"}, "not json <b>")
    html = page_of(logged_in, conversation)
    assert '<p class="tool-step__line">not json &lt;b&gt;</p>' in html


def test_markdown_export_leaves_out_steps_that_only_called_tools(logged_in, conversation):
    conversation.messages.create(role="user", content="What is 17*23?")
    call = {"id": "call_calc", "name": "calculate", "arguments": '{"expression": "17*23"}'}
    conversation.messages.create(role="assistant", content="", tool_calls=[call])
    tool_message(conversation, "calculate", {"expression": "17*23"}, "391")
    conversation.messages.create(role="assistant", content="It is 391.")
    url = reverse("conversations:export_markdown", args=[conversation.pk])
    body = logged_in.get(url).content.decode()
    assert body.count("## Assistant") == 1
    assert "## Tool `calculate`" in body and '"expression": "17*23"' in body
    assert "It is 391." in body


def test_the_home_page_composer_starts_a_conversation_that_sends_the_text(logged_in, user):
    home = logged_in.get(reverse("conversations:index")).content.decode()
    assert 'name="message"' in home and 'action="/conversations/new/"' in home
    response = logged_in.post(reverse("conversations:create"), {"message": "  Plan a trip  "})
    conversation = Conversation.objects.get(owner=user)
    assert response.url == conversation.get_absolute_url()
    first_visit = page_of(logged_in, conversation)
    assert "data-autosend>Plan a trip</textarea>" in first_visit
    assert "data-autosend" not in page_of(logged_in, conversation)  # sent once, not on reload


def test_a_new_conversation_without_text_waits_for_one(logged_in, user):
    logged_in.post(reverse("conversations:create"), {"message": ""})
    assert "data-autosend" not in page_of(logged_in, Conversation.objects.get(owner=user))


def test_renaming_keeps_the_cost_in_the_header(logged_in, conversation, user):
    UsageRecord.objects.create(user=user, conversation=conversation, purpose="chat", cost="0.25")
    url = reverse("conversations:rename", args=[conversation.pk])
    html = logged_in.post(url, {"title": "Renamed"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="conversation-cost"' in html and "$0.25 so far" in html


def test_favicon_is_served_from_the_static_files(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.url.endswith("favicon.ico") and response.url.startswith("/static/")
    assert finders.find("favicon.ico") and finders.find("favicon.svg")
