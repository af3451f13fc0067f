"""HTTP views: authenticate, look the conversation up through its owner, call a service."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import Profile
from agents.models import UsageRecord
from conversations import classification, export, services, turns
from conversations.forms import ConversationForm, RenameForm
from conversations.history import history_page
from conversations.models import Conversation
from conversations.search import search_conversations

CONVERSATIONS_PER_PAGE = 20
# The home page's composer hands its text to the new conversation's page under this key.
FIRST_MESSAGES = "first_messages"


def _sidebar(request: HttpRequest, current: Conversation | None = None) -> dict:
    paginator = Paginator(Conversation.objects.for_user(request.user), CONVERSATIONS_PER_PAGE)
    return {
        "page": paginator.get_page(request.GET.get("page")),
        "current": current,
        "new_form": ConversationForm(initial=_conversation_defaults(request.user)),
    }


def _conversation_defaults(user) -> dict:
    """The new-conversation form starts from the user's own defaults (settings page)."""
    profile = Profile.objects.for_user(user)
    defaults = {"system_prompt": profile.default_system_prompt}
    if profile.default_model in settings.LLM_MODELS:
        defaults["model"] = profile.default_model
    return defaults


def _redirect(request: HttpRequest, to: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(to)
    return redirect(to)


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    context = _sidebar(request) | {"max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS}
    if request.GET.get("deleted"):  # a page whose conversation was deleted came here
        messages.info(request, "That conversation was deleted.")
    if request.htmx and request.GET.get("page"):
        return render(request, "conversations/_sidebar.html#conversation-list", context)
    return render(request, "conversations/index.html", context)


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    """A new conversation; with `message` (the home page's composer) its page sends that
    text as soon as it is connected, through the same socket as every other message."""
    form = ConversationForm(request.POST)
    try:
        if form.is_valid():
            conversation = services.create_conversation(request.user, **form.cleaned_data)
            first = request.POST.get("message", "").strip()[: settings.CHAT_MAX_MESSAGE_CHARS]
            if first:
                request.session[FIRST_MESSAGES] = {str(conversation.pk): first}
            return _redirect(request, conversation.get_absolute_url())
    except ValidationError as exc:
        form.add_error(None, exc)
    context = _sidebar(request) | {"new_form": form}
    return render(request, "conversations/index.html", context, status=400)


@login_required
@require_GET
def detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = services.get_conversation_for_user(request.user, conversation_id)
    history = history_page(conversation)
    _with_confirmations(history.messages)
    context = _sidebar(request, conversation) | {
        "conversation": conversation,
        "chat_messages": history.messages,
        "history": history,
        "streaming": history.streaming,
        "conversation_cost": UsageRecord.objects.conversation_total(conversation.pk),
        "summary": conversation.summaries.current(),
        "first_message": _pop_first_message(request, conversation),
    }
    return render(request, "conversations/detail.html", context)


def _pop_first_message(request: HttpRequest, conversation: Conversation) -> str:
    """The home page's text for this conversation, once, and only while it is empty."""
    waiting = request.session.get(FIRST_MESSAGES, {})
    text = waiting.pop(str(conversation.pk), "")
    if text:
        request.session[FIRST_MESSAGES] = waiting
    return "" if conversation.messages.exists() else text


@login_required
@require_POST
def rename(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = services.get_conversation_for_user(request.user, conversation_id)
    form = RenameForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors["title"][0])
        conversation = services.rename_conversation(
            request.user, conversation.pk, form.cleaned_data["title"]
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    if request.htmx:
        context = {
            "conversation": conversation,
            "conversation_cost": UsageRecord.objects.conversation_total(conversation.pk),
        }
        return render(request, "conversations/detail.html#conversation-header", context)
    return redirect(conversation)


@login_required
@require_POST
def delete(request: HttpRequest, conversation_id: int) -> HttpResponse:
    services.delete_conversation(request.user, conversation_id)
    messages.success(request, "Conversation deleted.")
    return _redirect(request, "/")


@login_required
@require_POST
def clear(request: HttpRequest, conversation_id: int) -> HttpResponse:
    try:
        conversation = services.clear_history(request.user, conversation_id)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        conversation = services.get_conversation_for_user(request.user, conversation_id)
    return _redirect(request, conversation.get_absolute_url())


@login_required
@require_POST
def classify(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Classify the conversation again now; HTMX gets the new badge."""
    conversation = classification.reclassify(request.user, conversation_id)
    if request.htmx:
        return render(request, "conversations/_classification.html", {"conversation": conversation})
    return redirect(conversation)


@login_required
@require_POST
async def decide_confirmation(
    request: HttpRequest, conversation_id: int, confirmation_id: int
) -> HttpResponse:
    """Confirm or cancel a sensitive action (the same as its buttons over the websocket)."""
    user = await request.auser()
    try:
        decision = await turns.decide_as(
            user, conversation_id, confirmation_id, request.POST.get("decision")
        )
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0])
    confirmation = decision.confirmation
    if request.htmx:
        return render(request, "conversations/_confirmation.html", {"confirmation": confirmation})
    return redirect("conversations:detail", conversation_id)


@login_required
@require_GET
def older_messages(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The page of messages before `?before=<id>`, loaded as the user scrolls up."""
    conversation = services.get_conversation_for_user(request.user, conversation_id)
    try:
        before = int(request.GET["before"])
    except (KeyError, ValueError):
        raise Http404("No such page.") from None
    history = history_page(conversation, before=before)
    _with_confirmations(history.messages)
    context = {"conversation": conversation, "history": history}
    return render(request, "conversations/_history_page.html", context)


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Conversations whose title or messages match `?q=`, with the matches marked."""
    query = request.GET.get("q", "")[:200]
    context = {"query": query, "hits": search_conversations(request.user, query)}
    if request.htmx:
        return render(request, "conversations/_search_results.html", context)
    return render(request, "conversations/search.html", _sidebar(request) | context)


@login_required
@require_GET
def export_markdown(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = services.get_conversation_for_user(request.user, conversation_id)
    return _download(export.as_markdown(conversation), "text/markdown", conversation, "md")


@login_required
@require_GET
def export_json(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = services.get_conversation_for_user(request.user, conversation_id)
    return _download(export.as_json(conversation), "application/json", conversation, "json")


def _download(body: str, content_type: str, conversation: Conversation, ext: str) -> HttpResponse:
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename(conversation, ext)}"'
    return response


def _with_confirmations(messages: list) -> None:
    """Confirmation cards are drawn from the database, so they survive a restart."""
    prefetch_related_objects(
        messages, Prefetch("confirmations", to_attr="prefetched_confirmations")
    )
