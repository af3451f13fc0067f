# Personal API tokens now belong to the accounts app (its migration 0002 takes the same
# table over); only Django's record of the model leaves this app.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0008_exact_costs'),
        ('accounts', '0002_api_tokens_live_in_accounts'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ApiToken')],
            database_operations=[],
        ),
    ]
