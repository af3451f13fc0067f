from django import forms
from django.conf import settings

from agents.gateway import model_label
from chatsite.text_limits import check_length
from conversations.models import TITLE_MAX_CHARS


class ConversationForm(forms.Form):
    system_prompt = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Leave empty for the default.",
    )
    model = forms.ChoiceField(choices=(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(m, model_label(m)) for m in settings.LLM_MODELS]
        self.fields["model"].initial = settings.LLM_MODEL
        self.fields["system_prompt"].widget.attrs["placeholder"] = (
            settings.CHAT_DEFAULT_SYSTEM_PROMPT
        )

    def clean_system_prompt(self) -> str:
        limit = settings.CHAT_MAX_SYSTEM_PROMPT_CHARS
        return check_length(
            self.cleaned_data["system_prompt"], what="The system prompt", limit=limit
        )


class RenameForm(forms.Form):
    title = forms.CharField()

    def clean_title(self) -> str:
        title = " ".join(self.cleaned_data["title"].split())
        return check_length(title, what="The title", limit=TITLE_MAX_CHARS)
