"""The public pages: the demo clinic page, the embeddable widget script, and /healthz."""
from __future__ import annotations

from tests.support.database import unreachable_engine


async def test_healthz_is_503_while_the_model_loads_then_200(client, engine):
    engine.ready = False
    response = await client.get("/healthz")
    assert response.status == 503
    assert await response.json() == {"status": "starting", "problems": ["model loading"]}
    engine.ready = True
    response = await client.get("/healthz")
    assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_healthz_is_503_when_the_database_is_down(client):
    from bot.appkeys import SESSION_FACTORY

    client.app[SESSION_FACTORY].configure(bind=unreachable_engine())  # the app's state is frozen once started
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 503 and body["status"] == "unavailable"
    assert body["problems"][0].startswith("database unavailable")


async def test_demo_page_embeds_the_widget_and_names_the_clinic(client):
    response = await client.get("/")
    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert '<script src="/widget.js"' in html and "Northfield Hair Clinic" in html
    assert "999" in html and "https://clinic.example/privacy" in html


async def test_widget_script_is_one_file_with_the_socket_io_client(client):
    response = await client.get("/widget.js")
    script = await response.text()
    assert response.status == 200 and response.content_type == "application/javascript"
    assert "clinic-chat-launcher" in script and "session_request" in script
    assert script.index("Socket.IO") < script.index("clinic-chat-launcher")  # the client comes first
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_unknown_route_is_404(client):
    assert (await client.get("/nothing-here")).status == 404
