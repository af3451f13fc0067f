from django import forms

from contacts.models import Contact


class ExtractForm(forms.Form):
    """Text pasted on the Contacts page; the size limit is checked by the service."""

    text = forms.CharField(
        label="Text to extract contacts from",
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        strip=False,
    )


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["name", "email", "phone", "company"]
        widgets = {"email": forms.EmailInput()}
