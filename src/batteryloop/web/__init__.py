"""Server-rendered pages (Jinja2), in Dutch and English."""
