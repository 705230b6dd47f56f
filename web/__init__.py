"""The HTML front end: Jinja2 + htmx pages that talk to the API over HTTP, never to backend."""
