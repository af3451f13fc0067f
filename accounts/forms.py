import zoneinfo

from django import forms
from django.conf import settings

from accounts.models import Profile
from agents.gateway import model_label
from chatsite.text_limits import check_length


class ProfileForm(forms.ModelForm):
    """The settings page: how the user is named, their time zone and chat defaults."""

    time_zone = forms.ChoiceField(required=False, help_text="Times are shown in this zone.")
    default_model = forms.ChoiceField(required=False, label="Default model")

    class Meta:
        model = Profile
        fields = ["display_name", "time_zone", "default_model", "default_system_prompt"]
        labels = {"default_system_prompt": "Default system prompt"}
        widgets = {"default_system_prompt": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zones = sorted(zoneinfo.available_timezones())
        self.fields["time_zone"].choices = [
            ("", f"Site default ({settings.TIME_ZONE})"),
            *((z, z) for z in zones),
        ]
        self.fields["default_model"].choices = [
            ("", f"Site default ({model_label(settings.LLM_MODEL)})"),
            *((m, model_label(m)) for m in settings.LLM_MODELS),
        ]
        self.fields["default_system_prompt"].widget.attrs["placeholder"] = (
            settings.CHAT_DEFAULT_SYSTEM_PROMPT
        )

    def clean_default_system_prompt(self) -> str:
        prompt = self.cleaned_data["default_system_prompt"]
        limit = settings.CHAT_MAX_SYSTEM_PROMPT_CHARS
        return check_length(prompt, what="The default system prompt", limit=limit)
