"""ASGI entry point: HTTP through Django, websockets through Channels under /ws/."""

import gc
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

# What is loaded by now (Django, the apps, their modules: about 160,000 objects) lives
# as long as the process. Frozen, it is left out of the garbage collector's full
# passes, which otherwise walk all of it (about 0.1 s of CPU on a small machine)
# every few seconds under load, stalling every stream of the process meanwhile.
gc.freeze()


async def application(scope, receive, send) -> None:
    # The process's sweeper for replies left by a dead process starts with the app: on
    # its first connection, the first moment an event loop is running.
    start_sweeper()
    await router(scope, receive, send)
