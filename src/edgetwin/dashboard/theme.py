"""The dashboard's look: a dark-blue industrial palette shared by pages and charts."""

from __future__ import annotations

from typing import Final

from nicegui import ui

BACKGROUND: Final = "#0a1526"
SURFACE: Final = "#112240"
SURFACE_EDGE: Final = "#1d3a63"
HEADER: Final = "#0d1d36"
TEXT: Final = "#e2e8f0"
MUTED: Final = "#8ea4c4"
GRID_LINE: Final = "#1b3152"
ACCENT: Final = "#38bdf8"

# Series colours, in order: readable on the dark surface and distinct from each other.
SERIES: Final = ("#38bdf8", "#f59e0b", "#a78bfa", "#34d399", "#f472b6", "#facc15")

_CSS: Final = f"""
body, .q-page-container {{ background: {BACKGROUND}; color: {TEXT}; }}
.et-card {{
    background: {SURFACE} !important;
    border: 1px solid {SURFACE_EDGE};
    border-radius: 10px;
    box-shadow: none !important;
}}
.et-caption {{
    color: {MUTED}; font-size: 0.72rem; font-weight: 600;
    letter-spacing: 0.08em; text-transform: uppercase;
}}
.et-value {{
    color: {TEXT}; font-size: 1.7rem; font-weight: 600; line-height: 1.15;
    font-variant-numeric: tabular-nums;
}}
.et-unit {{ color: {MUTED}; font-size: 0.9rem; font-weight: 500; margin-left: 0.25rem; }}
.et-sub {{ color: {MUTED}; font-size: 0.78rem; font-variant-numeric: tabular-nums; }}
.et-section {{ color: {TEXT}; font-size: 1.05rem; font-weight: 600; letter-spacing: 0.02em; }}
.et-nav {{
    color: {MUTED}; text-decoration: none; padding: 0.35rem 0.8rem; border-radius: 6px;
    font-weight: 500;
}}
.et-nav:hover {{ color: {TEXT}; background: {SURFACE}; }}
.et-nav-active {{ color: {TEXT}; background: {SURFACE_EDGE}; }}
.et-logout {{ background: none; border: 1px solid {SURFACE_EDGE}; cursor: pointer; font: inherit; }}
.et-mono {{ font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }}
.q-badge {{ font-weight: 600; letter-spacing: 0.04em; padding: 3px 8px; }}
"""


def apply() -> None:
    """Style the current page: dark mode, palette and the shared CSS classes."""
    ui.dark_mode(True)
    ui.colors(
        primary=ACCENT,
        secondary="#1d3a63",
        accent="#f59e0b",
        dark=SURFACE,
        dark_page=BACKGROUND,
        positive="#16a34a",
        negative="#dc2626",
        warning="#ea580c",
        info="#0284c7",
    )
    ui.add_css(_CSS)
