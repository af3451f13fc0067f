from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone: {value}.")


class ProfileManager(models.Manager):
    def for_user(self, user) -> Profile:
        """The user's profile, created with the defaults on first use."""
        profile, _ = self.get_or_create(user=user)
        return profile


class Profile(models.Model):
    """A person's preferences: how they are named, their time zone, their defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    display_name = models.CharField(max_length=100, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])
    default_model = models.CharField(max_length=100, blank=True)
    default_system_prompt = models.TextField(blank=True)

    objects = ProfileManager()

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The user's time zone, or the site's when they have not chosen one."""
        return zoneinfo.ZoneInfo(self.time_zone or settings.TIME_ZONE)
