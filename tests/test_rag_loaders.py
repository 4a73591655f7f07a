"""Reading documents: every supported format, the ids re-ingestion relies on, and bad files reported, not raised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.base import InputError
from models.rag.loaders import SUPPORTED_EXTENSIONS, load_documents, normalise_text


def one_page_pdf(line: str) -> bytes:
    """A minimal valid PDF showing ``line`` in Helvetica, with an xref table built from real byte offsets."""
    stream = f"BT /F1 12 Tf 72 720 Td ({line}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def test_pdf_text_is_read_back(tmp_path: Path) -> None:
    (tmp_path / "policy.pdf").write_bytes(one_page_pdf("Hello refund policy"))
    documents, skipped = load_documents(tmp_path / "policy.pdf")
    assert skipped == []
    assert [(d.doc_id, d.title) for d in documents] == [("policy.pdf", "policy")]
    assert "Hello refund policy" in documents[0].text


def test_broken_and_encrypted_pdfs_are_skipped_with_a_reason(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    (tmp_path / "plain.pdf").write_bytes(one_page_pdf("Hello refund policy"))
    writer = PdfWriter(clone_from=PdfReader(tmp_path / "plain.pdf"))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(tmp_path / "locked.pdf")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    documents, skipped = load_documents(tmp_path)
    assert [d.doc_id for d in documents] == ["plain.pdf"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert "encrypted" in reasons["locked.pdf"]
    assert "PDF" in reasons["broken.pdf"]


def test_text_and_markdown_titles_and_normalisation(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("Intro line   \r\n# Refunds #\r\n\r\n\r\n\r\n\r\nWithin 30 days.\r\n\r\nSecond paragraph.")
    (tmp_path / "notes.txt").write_text("no heading here\n")
    documents, skipped = load_documents(tmp_path)
    by_id = {d.doc_id: d for d in documents}
    assert skipped == []
    assert by_id["guide.md"].title == "Refunds"
    assert by_id["guide.md"].text == "Intro line\n# Refunds #\n\nWithin 30 days.\n\nSecond paragraph."
    assert by_id["notes.txt"].title == "notes"
    assert by_id["notes.txt"].source == str(tmp_path / "notes.txt")


def test_normalise_keeps_paragraph_breaks_and_collapses_runs() -> None:
    assert normalise_text("  a \t\n\n\n\nb\rc\n\nd  ") == "a\n\nb\nc\n\nd"


def test_folder_ids_are_relative_posix_paths_in_order_without_hidden_files(tmp_path: Path) -> None:
    for name in ("b.txt", "sub/deeper/c.md", "a.txt", ".hidden.txt", ".git/config.txt", "sub/.cache/x.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"text of {name}")
    documents, skipped = load_documents(str(tmp_path))
    assert [d.doc_id for d in documents] == ["a.txt", "b.txt", "sub/deeper/c.md"]
    assert skipped == []
    single, _ = load_documents(tmp_path / "sub" / "deeper" / "c.md")
    assert single[0].doc_id == "c.md"


def test_html_drops_scripts_and_navigation_and_keeps_headings(tmp_path: Path) -> None:
    (tmp_path / "fees.html").write_text(
        "<html><head><title>Card fees</title><style>p {color: red}</style></head><body>"
        "<nav>Home | Login</nav><script>var secret = 'tracking';</script>"
        "<h1>Fees</h1><p>We charge\n    <b>no fee</b> for card payments.</p><h2>Abroad</h2><p>A 2% fee applies.</p>"
        "<!-- an editor's comment --><footer>Copyright</footer></body></html>"
    )
    (tmp_path / "untitled.htm").write_text("<body><h1>Opening hours</h1><p>Nine to five.</p></body>")
    documents, _ = load_documents(tmp_path)
    fees, untitled = sorted(documents, key=lambda d: d.doc_id)
    assert fees.title == "Card fees" and untitled.title == "Opening hours"
    assert fees.text == "# Fees\n\nWe charge no fee for card payments.\n\n## Abroad\n\nA 2% fee applies."
    for hidden in ("tracking", "color", "Home", "Copyright", "comment"):
        assert hidden not in fees.text


def test_jsonl_records_ids_titles_metadata_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"doc_id": "faq-1", "id": 7, "title": "Freezing", "text": "Freeze your card in the app.", "lang": "en", "views": 3}),
        json.dumps({"_id": 42, "body": "Refunds take five days.", "tags": ["x"], "pinned": True}),
        '{"id": "broken", "text": ',
        json.dumps({"content": "No id here."}),
        "",
        json.dumps({"id": "empty", "text": "   "}),
        json.dumps(["not", "an", "object"]),
    ]
    (tmp_path / "kb.jsonl").write_text("\n".join(lines) + "\n")
    documents, skipped = load_documents(tmp_path / "kb.jsonl")
    assert [(d.doc_id, d.title) for d in documents] == [("faq-1", "Freezing"), ("42", ""), ("kb.jsonl:4", "")]
    assert documents[0].metadata == {"id": "7", "lang": "en", "views": "3"}
    assert documents[1].metadata == {"pinned": "true"}
    assert documents[1].text == "Refunds take five days."
    reasons = [s.reason for s in skipped]
    assert [r.split(":")[0] for r in reasons] == ["line 3", "line 6", "line 7"]
    assert "not valid JSON" in reasons[0] and "text, body, content" in reasons[1]
    assert all(s.path == str(tmp_path / "kb.jsonl") for s in skipped)


def test_the_same_record_keeps_its_id_and_duplicates_are_reported(tmp_path: Path) -> None:
    record = json.dumps({"id": "a", "text": "Same text."})
    (tmp_path / "one.ndjson").write_text(record)
    (tmp_path / "two.jsonl").write_text(record)
    documents, skipped = load_documents(tmp_path)
    assert [d.doc_id for d in documents] == ["a"]
    assert len(skipped) == 1 and "duplicate id 'a'" in skipped[0].reason and skipped[0].path.endswith("two.jsonl")


def test_bad_files_are_skipped_with_reasons_never_raised(tmp_path: Path) -> None:
    (tmp_path / "slides.pptx").write_bytes(b"PK\x03\x04")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "blank.md").write_text("  \n\n \t\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "good.txt").write_text("fine")
    documents, skipped = load_documents(tmp_path)
    assert [d.doc_id for d in documents] == ["good.txt"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons["slides.pptx"].startswith("unsupported extension .pptx; supported: ")
    assert all(ext in reasons["slides.pptx"] for ext in SUPPORTED_EXTENSIONS)
    assert "UTF-8" in reasons["latin1.txt"] and "0xe9" in reasons["latin1.txt"]
    assert "no text" in reasons["blank.md"] and "no records" in reasons["empty.jsonl"]


def test_unreadable_file_is_skipped_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret.txt").write_text("hidden")
    (tmp_path / "open.txt").write_text("fine")
    read_bytes = Path.read_bytes

    def denied(self: Path) -> bytes:  # chmod 000 means nothing to root, so deny the way the OS would
        if self.name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    documents, skipped = load_documents(tmp_path)
    assert [d.doc_id for d in documents] == ["open.txt"]
    assert skipped[0].reason == "could not read the file (Permission denied); check its permissions"


def test_missing_path_raises_input_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nowhere"):
        load_documents(tmp_path / "nowhere")
