"""Reading a user's documents (text, Markdown, HTML, PDF, JSONL) into Documents, skipping what can't be read.

    documents, skipped = load_documents("docs/")      # a folder is walked recursively; a file is read alone
    for s in skipped: print(f"skipped {s.path}: {s.reason}")
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from models.base import InputError
from models.rag.types import Document, SkippedFile

SUPPORTED_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl", ".ndjson")
ID_KEYS = ("doc_id", "_id", "id")
TEXT_KEYS = ("text", "body", "content")
_HTML_DROPPED = ("script", "style", "nav", "footer", "head", "title", "noscript", "template")
_HTML_BLOCKS = ("p", "div", "li", "ul", "ol", "table", "tr", "section", "article", "main", "header", "aside",
                "blockquote", "pre", "dl", "dt", "dd", "figure", "figcaption", "form")
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.M)


class _Unreadable(Exception):
    """A file or record that cannot become a Document; the message is the reason the user sees."""


def normalise_text(text: str) -> str:
    """One newline convention and no trailing blanks, so re-ingesting an edited file hashes the same content."""
    text = re.sub(r"\r\n?|[\f\v]", "\n", text.replace("\x00", ""))
    text = re.sub(r"[^\S\n]+$", "", text, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def load_documents(path: Path | str) -> tuple[list[Document], list[SkippedFile]]:
    """Every readable document under ``path``; one bad file is reported in the second list, never raised."""
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root} does not exist: pass a file or a folder of {', '.join(SUPPORTED_EXTENSIONS)} files")
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    first_seen: dict[str, str] = {}
    for file, rel in _files(root):
        ext = file.suffix.lower()
        try:
            if ext in (".jsonl", ".ndjson"):
                found, bad = _read_jsonl(file, rel)
                skipped += bad
            elif ext in SUPPORTED_EXTENSIONS:
                found = [(_read_pdf if ext == ".pdf" else _read_html if ext in (".html", ".htm") else _read_text)(file, rel)]
            else:
                raise _Unreadable(f"unsupported extension {ext or '(none)'}; supported: {', '.join(SUPPORTED_EXTENSIONS)}")
        except _Unreadable as exc:
            skipped.append(SkippedFile(str(file), str(exc)))
            continue
        except OSError as exc:
            hint = "; check its permissions" if isinstance(exc, PermissionError) else ""
            skipped.append(SkippedFile(str(file), f"could not read the file ({exc.strerror or exc}){hint}"))
            continue
        for document in found:
            if document.doc_id in first_seen:  # a second copy would silently replace the first at ingestion
                reason = f"duplicate id {document.doc_id!r}, already used in {first_seen[document.doc_id]}"
                skipped.append(SkippedFile(str(file), reason))
            else:
                first_seen[document.doc_id] = str(file)
                documents.append(document)
    return documents, skipped


def _files(root: Path) -> list[tuple[Path, str]]:
    """(file, doc_id) pairs in path order; hidden files and folders (.git, .venv) are never walked."""
    if root.is_file():
        return [(root, root.name)]
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [(Path(folder, n), Path(folder, n).relative_to(root).as_posix()) for n in names if not n.startswith(".")]
    return sorted(found, key=lambda pair: pair[1])


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); re-save it as UTF-8") from None


def _clean(text: str) -> str:
    text = normalise_text(text)
    if not text:
        raise _Unreadable("no text in it (empty or whitespace only)")
    return text


def _document(rel: str, text: str, file: Path, title: str) -> Document:
    text = _clean(text)
    return Document(rel, text, str(file), title.strip() or _markdown_title(text) or file.stem)


def _markdown_title(text: str) -> str:
    match = _H1.search(text)
    return match.group(1).strip() if match else ""


def _read_text(file: Path, rel: str) -> Document:
    return _document(rel, _decode(file.read_bytes()), file, "")


def _read_html(file: Path, rel: str) -> Document:
    """Visible text with headings kept as Markdown ``#`` lines, so the chunker can still see the sections."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(_decode(file.read_bytes()), "html.parser")
    title_tag = soup.title or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    for tag in soup.find_all(_HTML_DROPPED):
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, Comment):
            node.extract()
        elif node.find_parent("pre") is None:  # HTML whitespace is layout, not text; <pre> keeps its own
            node.replace_with(re.sub(r"\s+", " ", node))
    for heading in soup.find_all(re.compile(r"^h[1-6]$")):
        heading.replace_with(f"\n\n{'#' * int(heading.name[1])} {heading.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(("td", "th")):
        tag.insert_after(" ")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    text = "\n".join(line.strip() for line in soup.get_text().split("\n"))
    return _document(rel, text, file, title)


def _read_pdf(file: Path, rel: str) -> Document:
    from pypdf import PdfReader

    try:
        reader = PdfReader(file)
        if reader.is_encrypted and not reader.decrypt(""):
            raise _Unreadable("encrypted PDF: save a copy without a password and ingest that")
        text = "\n\n".join(normalise_text(page.extract_text() or "") for page in reader.pages)
        title = str((reader.metadata and reader.metadata.title) or "")
    except _Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files; one bad file must not stop the others
        raise _Unreadable(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    if not text.strip():
        raise _Unreadable("no extractable text in this PDF (a scanned PDF needs OCR first)")
    return _document(rel, text, file, title)


def _read_jsonl(file: Path, rel: str) -> tuple[list[Document], list[SkippedFile]]:
    """One Document per record; a bad line is skipped by number and the rest of the file still loads."""
    documents, skipped = [], []
    for number, raw in enumerate(file.read_bytes().split(b"\n"), 1):
        try:
            line = _decode(raw)
            if line.strip():
                documents.append(_record(json.loads(line), file, f"{rel}:{number}"))
        except json.JSONDecodeError as exc:
            reason = f"line {number}: not valid JSON ({exc.msg}, column {exc.colno}); fix or remove the line"
            skipped.append(SkippedFile(str(file), reason))
        except _Unreadable as exc:
            skipped.append(SkippedFile(str(file), f"line {number}: {exc}"))
    if not documents and not skipped:
        raise _Unreadable("no records in it (empty file)")
    return documents, skipped


def _record(record: object, file: Path, fallback_id: str) -> Document:
    if not isinstance(record, dict):
        raise _Unreadable(f"expected a JSON object, got {type(record).__name__}")
    id_key = next((k for k in ID_KEYS if isinstance(record.get(k), (str, int)) and str(record[k]).strip()), None)
    text_key = next((k for k in TEXT_KEYS if isinstance(record.get(k), str) and record[k].strip()), None)
    if text_key is None:
        raise _Unreadable(f"no text: put the record's text in one of the fields {', '.join(TEXT_KEYS)}")
    used = {id_key, text_key, "title"}
    metadata = {k: v if isinstance(v, str) else json.dumps(v) for k, v in record.items()
                if k not in used and isinstance(v, (str, int, float, bool))}
    doc_id = str(record[id_key]).strip() if id_key else fallback_id
    return Document(doc_id, _clean(record[text_key]), str(file), str(record.get("title") or "").strip(), metadata)
