"""A self-contained HTML report for a run folder: sections of text, images and tables."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

from steerlab.core.io import atomic_write

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
img{max-width:100%;image-rendering:pixelated}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}.note{color:#555;font-size:.9em}
pre{background:#f6f6f6;padding:.6em;font-size:.8em;overflow:auto}
.flag{background:#fff3cd;border-left:4px solid #d39e00;padding:.5em .8em;font-weight:600}"""


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(src: str, alt: str = "") -> str:
    return f'<p><img src="{html.escape(src)}" alt="{html.escape(alt)}"></p>'


def text(s: str) -> str:
    return f'<p class="note">{html.escape(s)}</p>'


def markup(template: str, **values: Any) -> str:
    """A note paragraph from trusted markup with escaped values: ``markup("<b>{x}</b>", x="a<b")``."""
    return f'<p class="note">{template.format(**{k: html.escape(str(v)) for k, v in values.items()})}</p>'


def flag(s: str) -> str:
    """A warning that must be seen (a result that does not hold up), as an outlined paragraph."""
    return f'<p class="flag">{html.escape(s)}</p>'


def write_report(path: str | Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    """Write ``report.html``; ``sections`` are (heading, html body) pairs built with the helpers."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style><h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    doc = "\n".join(parts) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(doc))
