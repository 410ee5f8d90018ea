"""Locations of the bundled evidence base and model specifications."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_DATA = PROJECT_ROOT / "data"
BUNDLED_MODELS = PROJECT_ROOT / "models"
