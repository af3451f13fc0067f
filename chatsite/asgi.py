"""ASGI entry point: HTTP through Django, websockets through Channels under /ws/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: the routing pulls in models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatsite.origins import SameOriginValidator  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402
from conversations.turns import start_sweeper  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


async def application(scope, receive, send) -> None:
    # The process's sweeper for replies left by a dead process starts with the app: on
    # its first connection, the first moment an event loop is running.
    start_sweeper()
    await router(scope, receive, send)
