"""The quality report of a build (``plots``) and what the notebooks use to explore one.

The notebooks call: :func:`open_build`, :func:`summary_markdown`, :func:`ensure_report`,
:func:`dropped_counts`, :func:`dropped_markdown`, :func:`page_dropped`, :func:`format_dropped`,
:func:`truecasing_source`, :func:`truecasing_changes`, :func:`format_truecasing`,
:func:`truecasing_html`.
"""

from .build_files import Build, open_build
from .explore import (
    dropped_counts,
    dropped_markdown,
    ensure_report,
    format_dropped,
    page_dropped,
    summary_markdown,
)
from .truecasing_view import (
    format_truecasing,
    truecasing_changes,
    truecasing_html,
    truecasing_source,
)

__all__ = ["Build", "dropped_counts", "dropped_markdown", "ensure_report", "format_dropped",
           "format_truecasing", "open_build", "page_dropped", "summary_markdown",
           "truecasing_changes", "truecasing_html", "truecasing_source"]
