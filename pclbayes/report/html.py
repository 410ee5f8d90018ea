"""A small, dependency-free HTML page builder: sections, tables and embedded figures."""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:1.2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #333;margin:.2em 0 .5em}
h2{margin-top:2em;border-bottom:1px solid #bbb}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f1f1f1}td.l,th.l{text-align:left}
figure{margin:1em 0 1.6em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.88em;color:#444;margin-top:.3em}
pre{overflow-x:auto;font-size:.85em;background:#fafafa;padding:.4em}
.alert{background:#fde8e8;border:1px solid #e0a0a0;padding:.6em 1em;margin:1em 0}
.ok{background:#e8f6e8;border:1px solid #9c9;padding:.6em 1em;margin:1em 0}
.note{background:#f6f6e0;border:1px solid #cc9;padding:.6em 1em;margin:1em 0}
#key-findings{border:2px solid #2a5d8a;background:#f3f8fc;padding:.3em 1em .5em;margin:.4em 0 .8em}
#key-findings h2,#limitations h2{margin:.3em 0;border:0;font-size:1.2em}
#key-findings table{width:100%;margin:.2em 0;font-size:.9em;background:#fff}
#key-findings td.caveat{color:#5a3b00;font-size:.92em}
#key-findings td.n{white-space:nowrap}
#limitations{border:1px solid #c9a64a;background:#fffaf0;padding:.2em 1em .3em;margin:0 0 1em}
#limitations ul{margin:.2em 0;padding-left:1.3em;font-size:.92em}
nav ul{columns:2;font-size:.92em}summary{cursor:pointer;margin:.4em 0}
code{background:#f4f4f4;padding:0 .2em}
@page{size:A4;margin:12mm 11mm}
@media print{
body{max-width:none;margin:0;padding:0;font-size:8.5pt;line-height:1.25}
h1{font-size:15pt}h2{font-size:12.5pt;margin-top:1em;break-after:avoid}
h3{font-size:10.5pt;margin-top:.8em;break-after:avoid}
nav{display:none}
table{font-size:7.5pt;width:auto;max-width:100%;margin:.3em 0 .6em;break-inside:auto}
#key-findings table{font-size:8.5pt}
tr,figure{break-inside:avoid}caption{break-after:avoid}
th,td{padding:.1em .3em;overflow-wrap:break-word}
.figrow table{width:100%}
table.wide{width:100%;font-size:7pt}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:6.5pt;line-height:1.2;
background:none;padding:0}
figure{margin:.4em 0 .8em;text-align:center}
figure img{max-width:75%;max-height:75mm;width:auto;border:0}
figure.small img{max-width:60%;max-height:58mm}
.figrow{display:flex;gap:3mm;align-items:flex-start;break-inside:avoid}
.figrow>*{flex:1 1 0;min-width:0}
.figrow figure img{max-width:100%;max-height:62mm}
.figrow figure.small img{max-height:46mm}
.screen-only{display:none}
figcaption{font-size:7.5pt;text-align:left}
.alert,.ok,.note{padding:.2em .6em;margin:.4em 0}
}
"""


#: Marks the page after load so a headless browser (and a reader's devtools) can check it:
#: images that failed to decode, sections without content and the box of the key findings
#: (left, top, right, bottom in CSS pixels of the page) are listed on <body>.
_SELF_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = document.images, broken = 0, empty = [];
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) { broken++; }
  }
  document.querySelectorAll('section').forEach(function (s) {
    var h = s.querySelector('h2'), text = s.innerText.replace(h ? h.innerText : '', '').trim();
    if (text.length < 20 && s.querySelectorAll('img,table').length === 0) { empty.push(s.id); }
  });
  var box = document.getElementById('key-findings');
  if (box) {
    var r = box.getBoundingClientRect();
    document.body.setAttribute('data-key-findings-box',
      [r.left, r.top + window.scrollY, r.right, r.bottom + window.scrollY].join(','));
  }
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-broken-images', String(broken));
  document.body.setAttribute('data-empty-sections', empty.join(','));
  document.body.setAttribute('data-checked', 'yes');
});
</script>"""


def esc(text: object) -> str:
    """HTML-escape ``text``."""
    return html.escape(str(text))


@dataclass
class FigureRef:
    """A figure rendered to PNG (embedded) and saved as PNG and SVG files."""

    key: str
    png_b64: str
    caption: str


@dataclass
class Page:
    """An HTML report under construction.

    Figures are embedded as base64 PNG so the page needs nothing else to display; the
    same figures are written to ``fig_dir`` as PNG and SVG. ``lead`` holds what a reader
    must see first (the key findings and limitations): it is rendered right below the
    title, before the header and the table of contents.
    """

    title: str
    fig_dir: Path
    sections: list[tuple[str, str, list[str]]] = field(default_factory=list)
    figures: list[FigureRef] = field(default_factory=list)
    lead: list[str] = field(default_factory=list)
    #: Figures already rendered elsewhere (a report's worker processes), by key: the PNG
    #: and SVG bytes :meth:`figure` would write, used instead of rendering again.
    prerendered: dict[str, tuple[bytes, bytes | None]] = field(default_factory=dict)
    #: Every figure this page rendered itself, by key (PNG bytes, SVG bytes or None).
    rendered: dict[str, tuple[bytes, bytes | None]] = field(default_factory=dict)

    def section(self, anchor: str, heading: str) -> list[str]:
        """Start a section; returns the list its HTML parts are appended to."""
        parts: list[str] = []
        self.sections.append((anchor, heading, parts))
        return parts

    def figure(self, fig: Figure | Callable[[], Figure], key: str, caption: str, *,
               svg: bool = True, alt: str | None = None, small: bool = False,
               screen_only: bool = False) -> str:
        """Save ``fig`` (PNG, and SVG if asked) and return its embedded HTML.

        ``fig`` is a figure or a function drawing it; the function is called only when the
        figure is not in :attr:`prerendered` (so a figure a worker process rendered is not
        drawn again). ``alt`` is the image's text alternative (default: the caption's first
        sentence); ``small`` figures are printed smaller (checks and prior plots);
        ``screen_only`` figures, which draw the numbers of the table next to them, are not
        printed.
        """
        import matplotlib.pyplot as plt

        self.fig_dir.mkdir(parents=True, exist_ok=True)
        pre = self.prerendered.pop(key, None)
        if pre is not None and (pre[1] is not None) == svg:
            data, svg_data = pre
            if not callable(fig):
                plt.close(fig)
        else:
            import matplotlib

            if callable(fig):
                fig = fig()
            with warnings.catch_warnings():
                # matplotlib warns when placing a legend (loc="best") took over a second: a
                # remark on a busy machine's speed, not on the figure
                warnings.filterwarnings("ignore", message='Creating legend with loc="best"')
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
                data, svg_data = buf.getvalue(), None
                if svg:
                    # no creation date, and clip-path ids salted by the key rather than at
                    # random: the same figure gives the same SVG bytes in every run
                    buf = io.BytesIO()
                    with matplotlib.rc_context({"svg.hashsalt": key}):
                        fig.savefig(buf, format="svg", bbox_inches="tight",
                                    metadata={"Date": None})
                    svg_data = buf.getvalue()
            self.rendered[key] = (data, svg_data)
            plt.close(fig)
        (self.fig_dir / f"{key}.png").write_bytes(data)
        if svg_data is not None:
            (self.fig_dir / f"{key}.svg").write_bytes(svg_data)
        ref = FigureRef(key, base64.b64encode(data).decode("ascii"), caption)
        self.figures.append(ref)
        n = len(self.figures)
        alt = alt if alt is not None else caption.split(". ", 1)[0]
        classes = [c for c, on in (("small", small), ("screen-only", screen_only)) if on]
        cls = f' class="{" ".join(classes)}"' if classes else ""
        return (f'<figure id="fig-{esc(key)}"{cls}><img alt="{esc(alt)}" '
                f'src="data:image/png;base64,{ref.png_b64}">'
                f"<figcaption><b>Figure {n}.</b> {esc(caption)}</figcaption></figure>")

    def render(self, header_html: str = "") -> str:
        """The complete HTML document."""
        toc = "".join(f'<li><a href="#{esc(a)}">{esc(h)}</a></li>' for a, h, _ in self.sections)
        body = "".join(
            f'<section id="{esc(a)}"><h2>{esc(h)}</h2>{"".join(parts)}</section>'
            for a, h, parts in self.sections
        )
        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body>"
                f"<h1>{esc(self.title)}</h1>{''.join(self.lead)}{header_html}"
                f"<nav><ul>{toc}</ul></nav>{body}"
                f"{_SELF_CHECK}</body></html>")


#: Columns shown as integers wherever they appear (counts stored as floats).
COUNT_COLUMNS = frozenset({"n", "responders", "events", "patients", "observations",
                           "divergences", "k > 0.7", "events / patients", "chains"})


def table(df: pd.DataFrame, *, caption: str | None = None, digits: int = 2,
          left: tuple[str, ...] = (), formats: Mapping[str, Callable[[Any], str]] | None = None,
          wide: bool = False) -> str:
    """Render a DataFrame as an HTML table (numbers rounded, text columns left-aligned).

    ``formats`` maps a column to the function that formats its cells; columns named in
    :data:`COUNT_COLUMNS` are shown as integers; other floats get ``digits`` decimals,
    infinity as "not reached". ``wide`` tables are laid out to the page width in print.
    """
    if df is None or df.empty:
        return "<p><i>(no rows)</i></p>"
    cols = list(df.columns)
    fmts = dict(formats or {})
    text_cols = set(left) | {c for c in cols if not pd.api.types.is_numeric_dtype(df[c])
                             and c not in fmts}

    def cell(v: object, c: str) -> str:
        if c in fmts:
            v = fmts[c](v)
        elif isinstance(v, float) and c in COUNT_COLUMNS and not pd.isna(v):
            v = f"{round(v):d}"
        elif isinstance(v, float):
            v = "" if pd.isna(v) else ("not reached" if math.isinf(v) else f"{v:.{digits}f}")
        elif v is None or v is pd.NA or (not isinstance(v, str) and pd.isna(v)):
            v = ""
        cls = ' class="l"' if c in text_cols else ""
        return f"<td{cls}>{esc(v)}</td>"

    head = "".join(f'<th{" class=l" if c in text_cols else ""}>{esc(c)}</th>' for c in cols)
    rows = "".join("<tr>" + "".join(cell(v, c) for v, c in zip(r, cols, strict=True)) + "</tr>"
                   for r in df.itertuples(index=False))
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    cls = ' class="wide"' if wide else ""
    return f"<table{cls}>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def row(*items: str) -> str:
    """Items (figures, tables) side by side when printed, one below the other on screen."""
    return f'<div class="figrow">{"".join(items)}</div>'


def para(text: str) -> str:
    """A paragraph of escaped text."""
    return f"<p>{esc(text)}</p>"
