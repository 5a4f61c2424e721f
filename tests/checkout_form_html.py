"""Reading the payment form's boxes out of the page: their values, aria state and autofocus."""

from __future__ import annotations

from html.parser import HTMLParser


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str]] = {}
        self.alerts: list[str] = []
        self._in_alert = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "input" and "id" in named:
            self.found[named["id"]] = named
        self._in_alert = named.get("role") == "alert"

    def handle_data(self, data: str) -> None:
        if self._in_alert and data.strip():
            self.alerts.append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        self._in_alert = False


def form_inputs(html: str) -> dict[str, dict[str, str]]:
    """Every <input> with an id, as id → its attributes (a bare attribute like autofocus maps to "")."""
    parser = _Inputs()
    parser.feed(html)
    return parser.found


def focused(html: str) -> list[str]:
    """The ids of the boxes marked autofocus: where the cursor starts when the page loads."""
    return [box for box, attrs in form_inputs(html).items() if "autofocus" in attrs]


def alerts(html: str) -> list[str]:
    """The texts of the page's role="alert" messages."""
    parser = _Inputs()
    parser.feed(html)
    return parser.alerts
