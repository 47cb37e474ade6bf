"""Source bytes as text: UTF-8 is the rule, and the Windows code pages students use are read.

Many students of this course work on Korean Windows, whose editors save CP949 (a superset
of EUC-KR) unless told otherwise. A file that is not UTF-8 is read, in this order, as

1. the encoding its byte-order mark names (UTF-16 from Notepad's "Unicode");
2. the first of PREFERRED that charset-normalizer accepts as readable text (it decodes and
   its mess measure stays low): CP949, then Windows-1252. Detection alone cannot decide a
   file that is ASCII but for a Korean comment of two syllables (it then guesses a Cyrillic
   or Japanese code page), so the course's own students' code page comes first;
3. charset-normalizer's best guess among every encoding it knows;
4. Windows-1252 with undecodable bytes replaced, when nothing else reads it.

Every file read other than as UTF-8 gets a note asking for UTF-8.
"""
from __future__ import annotations

from charset_normalizer import from_bytes

# The legacy code pages of this course's students, the most likely first.
PREFERRED = ("cp949", "cp1252")
_NAMES = {"cp949": "CP949 (Korean Windows)", "cp1252": "Windows-1252", "euc_kr": "EUC-KR",
          "utf_16": "UTF-16", "utf_16_le": "UTF-16", "utf_16_be": "UTF-16", "utf_32": "UTF-32"}


def decode(data: bytes, name: str, notes: list[str]) -> str:
    """`data` as text by the rule above, a BOM removed; a note in `notes` unless it was UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is not None and best.bom:
        encoding, text = best.encoding, str(best)
    else:
        encoding = next((e for e in PREFERRED if from_bytes(data, cp_isolation=[e]).best() is not None),
                        best.encoding if best is not None else None)
        text = data.decode(encoding, errors="replace") if encoding else None
    if text is None:
        notes.append(f"{name}: not UTF-8, and no encoding reads it; read as Windows-1252 with the unreadable "
                     "bytes replaced (save your files as UTF-8)")
        return data.decode("cp1252", errors="replace")
    notes.append(f"{name}: not UTF-8; read as {_NAMES.get(encoding, encoding)} (save your files as UTF-8)")
    return text.removeprefix("\ufeff")
