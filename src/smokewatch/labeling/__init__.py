"""The citizen-science labeling service: volunteers label batches of clips, researchers review.

FastAPI + SQLAlchemy 2; SQLite (WAL) by default, PostgreSQL by URL. API-compatible with the
original RISE tool's ``/api/v1`` so its front end and scripts keep working. Imports only
``core`` from the rest of the project: it serves clips, it never decodes them.
"""
