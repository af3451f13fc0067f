"""Contacts pages: authenticate, look data up through its owner, call a service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.errors import GatewayError
from contacts import services
from contacts.csv_export import contacts_csv
from contacts.forms import ContactForm, ExtractForm
from contacts.models import Contact

CONTACTS_PER_PAGE = 50


def _index_context(request: HttpRequest, form: ExtractForm | None = None) -> dict:
    query = request.GET.get("q", "")
    contacts = Contact.objects.for_user(request.user).search(query)
    return {
        "page": Paginator(contacts, CONTACTS_PER_PAGE).get_page(request.GET.get("page")),
        "query": query,
        "form": form or ExtractForm(),
    }


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "contacts/index.html", _index_context(request))


@login_required
@require_POST
def extract(request: HttpRequest) -> HttpResponse:
    """Extract contacts from pasted text; on failure the text stays in the form."""
    form = ExtractForm(request.POST)
    form.is_valid()
    try:
        result = services.extract_from_text(request.user, form.cleaned_data.get("text", ""))
    except ValidationError as exc:
        form.add_error("text", exc.messages[0])
    except GatewayError as exc:
        form.add_error("text", exc.message)
    else:
        messages.success(request, result.summary())
        return redirect("contacts:index")
    return render(request, "contacts/index.html", _index_context(request, form), status=400)


@login_required
@require_POST
def extract_message(request: HttpRequest, message_id: int) -> HttpResponse:
    """Extract contacts from one message; HTMX gets the outcome under the message."""
    error, summary = "", ""
    try:
        summary = services.extract_from_message(request.user, message_id).summary()
    except ValidationError as exc:
        error = exc.messages[0]
    except GatewayError as exc:
        error = exc.message
    if request.htmx:
        context = {"message_id": message_id, "summary": summary, "error": error}
        return render(request, "contacts/_extract_result.html", context)
    messages.add_message(request, messages.ERROR if error else messages.SUCCESS, error or summary)
    message = services.get_message_for_user(request.user, message_id)
    return redirect(message.conversation)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = services.get_contact_for_user(request.user, contact_id)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_contact(request.user, contact.pk, form.cleaned_data)
        except ValidationError as exc:
            form.add_error("email", exc.messages[0])
        else:
            messages.success(request, "Contact saved.")
            return redirect("contacts:index")
    return render(request, "contacts/edit.html", {"contact": contact, "form": form})


@login_required
@require_POST
def delete(request: HttpRequest, contact_id: int) -> HttpResponse:
    services.delete_contact(request.user, contact_id)
    messages.success(request, "Contact deleted.")
    return redirect("contacts:index")


@login_required
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    """The user's contacts (the current search, if any) as a CSV download."""
    contacts = Contact.objects.for_user(request.user).search(request.GET.get("q", ""))
    response = HttpResponse(contacts_csv(contacts), content_type="text/csv; charset=utf-8")
    filename = f"contacts-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
