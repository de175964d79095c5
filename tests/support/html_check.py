"""An HTML page read as a browser under a strict Content-Security-Policy would: its tags checked
for balance, what the policy would refuse (script, inline style, event handlers) collected, and
the sources of its images and stylesheets."""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["CheckedPage", "check_page"]

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class CheckedPage(HTMLParser):
    """What ``check_page`` found: tags seen, inline code or style, images, stylesheets."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()
        self.inline: list[str] = []
        self.images: list[str] = []
        self.stylesheets: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        values = dict(attrs)
        handlers = any(name.startswith("on") for name in values)
        if tag in ("script", "style") or "style" in values or handlers:
            self.inline.append(tag)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> closes nothing open")


def check_page(text: str) -> CheckedPage:
    """The page parsed; raises AssertionError when a tag is left open or closed out of order."""
    page = CheckedPage()
    page.feed(text)
    page.close()
    assert page.errors == [], page.errors
    assert page.open == [], f"left open: {page.open}"
    return page
