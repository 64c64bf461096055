"""Sphinx extension: keep the built site free of CDN references.

Jupyter Book 1 always loads sphinx-thebe, which writes a script with an unpkg.com URL into every
page even when live code (thebe) is off. This removes those scripts; tests/test_book.py checks that
no page references an external host.
"""


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [s for s in scripts
                                   if "thebe" not in str(s) and "unpkg.com" not in str(getattr(s, "attributes", {}).get("body", ""))]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
