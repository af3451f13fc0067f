"""HTTP views: authenticate, look the conversation up through its owner, call a service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from agents.models import UsageRecord
from conversations import classification, confirmations, services
from conversations.forms import ConversationForm, RenameForm
from conversations.models import Conversation

CONVERSATIONS_PER_PAGE = 20


def _sidebar(request: HttpRequest, current: Conversation | None = None) -> dict:
    paginator = Paginator(Conversation.objects.for_user(request.user), CONVERSATIONS_PER_PAGE)
    return {
        "page": paginator.get_page(request.GET.get("page")),
        "current": current,
        "new_form": ConversationForm(),
    }


def _redirect(request: HttpRequest, to: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(to)
    return redirect(to)


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    context = _sidebar(request)
    if request.htmx and request.GET.get("page"):
        return render(request, "conversations/_sidebar.html#conversation-list", context)
    return render(request, "conversations/index.html", context)


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    form = ConversationForm(request.POST)
    if not form.is_valid():
        context = _sidebar(request) | {"new_form": form}
        return render(request, "conversations/index.html", context, status=400)
    conversation = services.create_conversation(request.user, **form.cleaned_data)
    return _redirect(request, conversation.get_absolute_url())


@login_required
@require_GET
def detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = services.get_conversation_for_user(request.user, conversation_id)
    services.recover_stale_replies(conversation.pk)
    # Confirmation cards are drawn from the database, so they survive a restart.
    chat = conversation.messages.prefetch_related(
        Prefetch("confirmations", to_attr="prefetched_confirmations")
    )
    context = _sidebar(request, conversation) | {
        "conversation": conversation,
        "chat_messages": chat,
        "streaming": any(m.is_streaming for m in chat),
        "conversation_cost": UsageRecord.objects.conversation_total(conversation.pk),
        "summary": conversation.summaries.current(),
    }
    return render(request, "conversations/detail.html", context)


@login_required
@require_POST
def rename(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = services.get_conversation_for_user(request.user, conversation_id)
    form = RenameForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("A title cannot be empty.")
        conversation = services.rename_conversation(
            request.user, conversation.pk, form.cleaned_data["title"]
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    if request.htmx:
        return render(
            request, "conversations/detail.html#conversation-header", {"conversation": conversation}
        )
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
    decision = request.POST.get("decision")
    if decision not in ("confirm", "cancel"):
        return HttpResponseBadRequest("decision must be confirm or cancel")
    user = await request.auser()
    confirmation = await confirmations.decide(
        user, conversation_id, confirmation_id, approve=decision == "confirm"
    )
    if request.htmx:
        return render(request, "conversations/_confirmation.html", {"confirmation": confirmation})
    return redirect("conversations:detail", conversation_id)
