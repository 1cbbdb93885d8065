"""html.py -- the report page: one self-contained index.html (tables and
figures, the PNGs embedded as base64 data URIs, so it reads offline)."""

import base64
import html

import numpy as np


def table_html(df, flag_col=None):
    """A DataFrame as an HTML table; rows whose `flag_col` is true get ⚠ and
    a shaded background."""
    cols = [c for c in df.columns if c != flag_col]
    out = ['<table><thead><tr>%s</tr></thead><tbody>' % "".join("<th>%s</th>" % html.escape(str(c)) for c in cols)]
    for _, row in df.iterrows():
        flagged = bool(flag_col and row.get(flag_col))
        cells = []
        for c in cols:
            v = row[c]
            text = fmt(v)
            cells.append("<td>%s</td>" % html.escape(text))
        if flagged:
            cells[0] = cells[0].replace("<td>", "<td>⚠ ", 1)
        out.append('<tr%s>%s</tr>' % (' class="flag"' if flagged else "", "".join(cells)))
    out.append("</tbody></table>")
    return "\n".join(out)


def fmt(v):
    """One cell: numbers in 4 significant digits, NaN as '-'."""
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "-" if np.isnan(v) else str(v)
        return "%.4g" % v
    return str(v)


def page(title, header_lines, sections):
    """The whole page.  header_lines: text lines (provenance, notes);
    sections: list of (heading, list of parts) where a part is ("html",
    text), ("p", text) or ("png", path, caption)."""
    body = ["<h1>%s</h1>" % html.escape(title)]
    body.append("<ul>%s</ul>" % "".join("<li>%s</li>" % html.escape(x) for x in header_lines))
    for heading, parts in sections:
        body.append("<h2>%s</h2>" % html.escape(heading))
        for part in parts:
            if part[0] == "html":
                body.append(part[1])
            elif part[0] == "p":
                body.append("<p>%s</p>" % html.escape(part[1]))
            elif part[0] == "png":
                with open(part[1], "rb") as f:
                    data = base64.b64encode(f.read()).decode("ascii")
                body.append('<figure><img alt="%s" src="data:image/png;base64,%s"><figcaption>%s</figcaption></figure>'
                            % (html.escape(part[2]), data, html.escape(part[2])))
    style = ("body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;font-size:14px}"
             "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}"
             "tr.flag{background:#fff3cd}img{max-width:100%}figure{margin:1em 0}"
             "figcaption{font-size:12px;color:#444}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style></head>"
            "<body>\n%s\n</body></html>\n" % (html.escape(title), style, "\n".join(body)))
