from django import forms
from django.conf import settings

from agents.gateway import model_label


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


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200)
