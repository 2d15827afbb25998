"""An independent reading of one MIME message with Python's standard `email` package
(email.policy.default) and `html.parser`: reads the raw message on stdin and prints, as JSON,
its headers, the tree of parts, each part's headers and content, and what the HTML parts'
<img> and <a> elements point to. It judges nothing: the Rust test asserts on what it prints."""

import base64
import hashlib
import json
import sys
from email import message_from_bytes, policy
from html.parser import HTMLParser


class Refs(HTMLParser):
    """Collects <img src>, <img alt>, <a href>, the <html lang>, the <title> and the text a
    reader sees (outside <style> and <title>, entities decoded) of a document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images, self.links, self.lang, self.title, self.text = [], [], None, "", ""
        self._open = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append({"src": a.get("src"), "alt": a.get("alt")})
        elif tag == "a":
            self.links.append(a.get("href"))
        elif tag == "html":
            self.lang = a.get("lang")
        if tag in ("title", "style"):
            self._open.append(tag)

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if "title" in self._open:
            self.title += data
        elif "style" not in self._open:
            self.text += data


def describe(part, path):
    entry = {
        "path": path,
        "type": part.get_content_type(),
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
        "content_id": part.get("Content-ID"),
        "charset": part.get_content_charset(),
        "defects": [type(d).__name__ for d in part.defects],
    }
    if part.is_multipart():
        entry["parts"] = [describe(p, f"{path}.{i + 1}") for i, p in enumerate(part.iter_parts())]
        return entry
    content = part.get_content()
    if isinstance(content, str):
        entry["text"] = content
        if part.get_content_type() == "text/html":
            refs = Refs()
            refs.feed(content)
            entry["html"] = {"images": refs.images, "links": refs.links, "lang": refs.lang, "title": refs.title,
                             "text": refs.text}
    else:
        entry["sha256"] = hashlib.sha256(content).hexdigest()
        entry["base64"] = base64.b64encode(content).decode()
    return entry


def main():
    msg = message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
    out = {
        "subject": str(msg["Subject"]),
        "message_id": str(msg["Message-ID"]),
        "from": str(msg["From"]),
        "to": str(msg["To"]),
        "mime_version": str(msg["MIME-Version"]),
        "root": describe(msg, "1"),
    }
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
