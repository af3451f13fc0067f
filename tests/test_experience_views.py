"""Highlighting, search, export, paged history and the settings page, through views."""

import datetime
import json

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Profile
from conversations.history import PAGE_SIZE
from conversations.models import Conversation, Message
from conversations.rendering import render_markdown
from conversations.services import create_conversation

pytestmark = pytest.mark.django_db

CODE_REPLY = 'Here:\n\n```python\ndef f():\n    return "<script>alert(1)</script>"\n```\n'


def add_messages(conversation: Conversation, count: int) -> list[Message]:
    return Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role="user" if index % 2 == 0 else "assistant",
            content=f"message number {index}",
        )
        for index in range(count)
    )


def test_code_blocks_are_highlighted_with_the_code_text_escaped(logged_in, conversation):
    conversation.messages.create(role="assistant", content=CODE_REPLY)
    page = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert '<code class="highlight"><span class="k">def</span>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def test_only_pygments_token_classes_survive_sanitizing():
    html = render_markdown("```nosuchlanguage\nx\n```\n\n```python\nx = 1\n```")
    assert 'class="language-nosuchlanguage"' not in html
    assert '<span class="n">x</span>' in html
    assert render_markdown('<span class="evil">x</span>').startswith("<p>&lt;span")


def test_messages_offer_copy_and_the_last_turn_offers_regenerate_and_edit(logged_in, conversation):
    question = conversation.messages.create(role="user", content="Question?")
    conversation.messages.create(role="assistant", content="Answer.")
    page = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert page.count('aria-label="Copy text"') == 2
    assert '"action": "regenerate"' in page
    assert f'"action": "edit", "message_id": "{question.pk}"' in page


def test_streaming_reply_has_no_actions_yet(logged_in, conversation):
    conversation.messages.create(role="assistant", status="streaming", content="so far")
    page = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert '"action": "regenerate"' not in page


def test_search_finds_titles_and_message_text_and_marks_the_matches(logged_in, user):
    by_title = create_conversation(user, title="Holiday in Rome")
    by_text = create_conversation(user, title="Cooking")
    by_text.messages.create(role="user", content="How long do I boil pasta in rome style?")
    create_conversation(user, title="Unrelated")
    response = logged_in.get(reverse("conversations:search"), {"q": "rome"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<mark>Rome</mark>" in html
    assert "pasta in <mark>rome</mark> style" in html
    assert by_title.get_absolute_url() in html and by_text.get_absolute_url() in html
    assert "Unrelated" not in html
    assert "<html" not in html  # a partial for the sidebar


def test_search_escapes_text_before_marking(logged_in, conversation):
    conversation.messages.create(role="assistant", content='<img src=x onerror="x()"> needle')
    html = logged_in.get(reverse("conversations:search"), {"q": "needle"}).content.decode()
    assert "&lt;img src=x onerror=&quot;x()&quot;&gt; <mark>needle</mark>" in html
    assert "<img src=x" not in html


def test_search_never_shows_other_users_conversations(logged_in, other_user):
    create_conversation(other_user, title="secret plans")
    html = logged_in.get(reverse("conversations:search"), {"q": "secret"}).content.decode()
    assert "secret plans" not in html
    assert "0 results" in html


def test_export_markdown_holds_every_message_with_its_usage(logged_in, conversation):
    conversation.messages.create(role="user", content="What is 2+2?")
    conversation.messages.create(
        role="assistant", content="**4**", prompt_tokens=12, completion_tokens=3
    )
    response = logged_in.get(reverse("conversations:export_markdown", args=[conversation.pk]))
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"] == 'attachment; filename="new-conversation.md"'
    assert body.startswith("# New conversation")
    assert "## You" in body and "What is 2+2?" in body
    assert "## Assistant" in body and "**4**" in body  # the markdown source, unrendered
    assert "Tokens: 12 prompt, 3 completion." in body


def test_export_json_holds_every_stored_message_field(logged_in, conversation):
    conversation.messages.create(role="user", content="Hi <b>")
    conversation.messages.create(
        role="assistant", content="Hello", model="gpt-4o", prompt_tokens=5, completion_tokens=2
    )
    response = logged_in.get(reverse("conversations:export_json", args=[conversation.pk]))
    data = json.loads(response.content)
    assert data["title"] == conversation.title and data["model"] == conversation.model
    user_message, reply = data["messages"]
    assert user_message["content"] == "Hi <b>"
    assert reply["prompt_tokens"] == 5 and reply["completion_tokens"] == 2
    assert reply["model"] == "gpt-4o" and reply["status"] == "complete"
    stored = {f.name for f in Message._meta.concrete_fields} - {"conversation"}
    assert set(reply) == stored


def test_exports_of_other_users_conversations_are_404(conversation, other_user):
    client = Client()
    client.force_login(other_user)
    for name in ("export_markdown", "export_json", "older"):
        url = reverse(f"conversations:{name}", args=[conversation.pk])
        assert client.get(url, {"before": 10}).status_code == 404


def test_long_conversation_opens_with_the_latest_page_and_pages_back_to_the_start(
    logged_in, conversation
):
    messages = add_messages(conversation, 2000)
    page = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert "message number 1999" in page and "message number 1950<" in page
    assert "message number 1949<" not in page
    assert 'hx-trigger="intersect once"' in page

    seen = [m.pk for m in messages[-PAGE_SIZE:]]
    before = seen[0]
    while before:
        url = reverse("conversations:older", args=[conversation.pk])
        response = logged_in.get(url, {"before": before}, HTTP_HX_REQUEST="true")
        ids = [m.pk for m in response.context["history"].messages]
        seen = ids + seen
        before = response.context["history"].older_than
        if before:
            assert f"before={before}" in response.content.decode()
    assert seen == [m.pk for m in messages]


def test_older_messages_needs_a_position(logged_in, conversation):
    url = reverse("conversations:older", args=[conversation.pk])
    assert logged_in.get(url, {"before": "x"}).status_code == 404


def test_settings_page_saves_display_name_zone_model_and_prompt(logged_in, user, settings):
    settings.LLM_MODELS = ["demo", "other-model"]
    response = logged_in.post(
        reverse("accounts:settings"),
        {
            "display_name": "Alice A.",
            "time_zone": "Europe/Rome",
            "default_model": "other-model",
            "default_system_prompt": "Answer in Italian.",
        },
    )
    assert response.status_code == 302
    profile = Profile.objects.for_user(user)
    assert (profile.display_name, profile.time_zone) == ("Alice A.", "Europe/Rome")
    assert profile.default_model == "other-model"
    assert profile.default_system_prompt == "Answer in Italian."
    assert "Alice A." in logged_in.get("/").content.decode()  # shown in the top bar


def test_settings_page_rejects_unknown_zone_and_model(logged_in, user):
    response = logged_in.post(
        reverse("accounts:settings"), {"time_zone": "Mars/Olympus", "default_model": "nope"}
    )
    assert response.status_code == 400
    assert Profile.objects.for_user(user).time_zone == ""


def test_settings_page_requires_login():
    response = Client().get(reverse("accounts:settings"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_new_conversation_form_starts_from_the_users_defaults(logged_in, user, settings):
    settings.LLM_MODELS = ["demo", "other-model"]
    Profile.objects.filter(pk=Profile.objects.for_user(user).pk).update(
        default_model="other-model", default_system_prompt="Be brief."
    )
    page = logged_in.get("/").content.decode()
    assert '<option value="other-model" selected>' in page
    assert "\nBe brief.</textarea>" in page
    logged_in.post(
        reverse("conversations:create"),
        {"model": "other-model", "system_prompt": "Be brief."},
    )
    conversation = Conversation.objects.get()
    assert (conversation.model, conversation.system_prompt) == ("other-model", "Be brief.")


def test_message_times_show_in_the_users_time_zone(logged_in, user, conversation):
    Profile.objects.filter(pk=Profile.objects.for_user(user).pk).update(time_zone="Asia/Tokyo")
    noon_utc = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)
    conversation.messages.create(role="user", content="hi", created_at=noon_utc)
    page = logged_in.get(conversation.get_absolute_url()).content.decode()
    assert ">21:00</time>" in page
