"""`dcgan serve`: a web page and an HTTP API for a trained generator.

``app.py`` builds the FastAPI application (`create_app(generator, card)`): the page, the JSON/PNG
API and its OpenAPI documentation (served offline). ``engine.py`` runs the networks, one request
at a time, and encodes the PNGs with their provenance tags; ``schemas.py`` holds the request and
response bodies with their types and ranges; ``limits.py`` the bounds on every request and the
ASGI middleware that refuses an oversized body before reading it; ``static/`` the page (one HTML
file, plain JavaScript and CSS, no build step and nothing fetched from elsewhere).
"""
