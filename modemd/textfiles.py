"""Reading what people produce on Windows: files are UTF-8 (with or without a BOM) or, as
Notepad and Excel write them in France, Windows-1252."""

from __future__ import annotations

UTF8_BOM = b"\xef\xbb\xbf"


class NotText(ValueError):
    """Neither UTF-8 nor Windows-1252: most likely not a text file at all."""


def decode_text(data: bytes) -> str:
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise NotText("the file is neither UTF-8 nor Windows-1252 text") from exc
