"""The web dashboard (filled in by the dashboard commit)."""

from fastapi import APIRouter

router = APIRouter(tags=["dashboard"])
