"""The HTTP side of the application: pages, health, webhooks and the socket.io web chat."""
