"""Public OpenAI list prices (USD per 1M tokens: input, cached input, output).

Read on 2026-11-26 from the public pricing listings (openai.com/api/pricing and
price trackers quoting it). Staff keep them current in the admin by adding a row with
a later valid-from date.
"""

import datetime
from decimal import Decimal

from django.db import migrations

READ_ON = datetime.date(2026, 11, 26)
SOURCE = "OpenAI public pricing, read 2026-11-26"
PRICES = [
    # model, input, cached input (None: no discount), output
    ("gpt-4o", "2.50", "1.25", "10.00"),
    ("gpt-4o-mini", "0.15", "0.075", "0.60"),
    ("gpt-4-turbo", "10.00", None, "30.00"),
    ("gpt-4.1", "2.00", "0.50", "8.00"),
    ("gpt-4.1-mini", "0.40", "0.10", "1.60"),
    ("gpt-3.5-turbo", "0.50", None, "1.50"),
]


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("agents", "ModelPrice")
    for model, prompt, cached, completion in PRICES:
        ModelPrice.objects.get_or_create(
            model=model,
            valid_from=READ_ON,
            defaults={
                "input_per_million": Decimal(prompt),
                "cached_input_per_million": Decimal(cached) if cached else None,
                "output_per_million": Decimal(completion),
                "source": SOURCE,
            },
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("agents", "ModelPrice")
    ModelPrice.objects.filter(valid_from=READ_ON, source=SOURCE).delete()


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
