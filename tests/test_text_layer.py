"""The document model: text as a person reads it, structure apart, answer sentences and PDF pages.

Small files of every format are made here (PDFs with fpdf2, Word files with python-docx) and read
by the real loaders and chunker.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from retrieval.chunking import answer_sentences, chunk_document
from retrieval.documents import Document
from retrieval.loaders import load_corpus, load_document
from retrieval.tokens import CHUNKING_ENCODING, get_encoding


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def load(tmp_path: Path, name: str, data: str | bytes) -> Document:
    return load_document(write(tmp_path / name, data), name)


def answers(document: Document) -> list[str]:
    """Every sentence of the document that may be quoted as an answer."""
    return [document.text[s:e] for s, e in answer_sentences(document)]


def kinds(document: Document) -> list[tuple[str, str]]:
    return [(b.kind, document.text[b.start : b.end]) for b in document.blocks]


def assert_quotes_verify(document: Document) -> None:
    """Every answer sentence of every chunk quotes the stored text exactly."""
    for chunk in chunk_document(document, get_encoding(CHUNKING_ENCODING), 250, 50):
        for start, end in chunk.answer_spans():
            assert chunk.text[start - chunk.start : end - chunk.start] == document.text[start:end]


def pdf(pages: list[list[str]], header: str = "", numbers: bool = False) -> bytes:
    """A PDF with the given lines per page (fpdf2), optionally a running header and page numbers."""
    from fpdf import FPDF

    class Writer(FPDF):  # type: ignore[misc]
        def header(self) -> None:
            if header:
                self.set_font("helvetica", size=8)
                self.cell(0, 8, header, new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            if numbers:
                self.set_y(-15)
                self.set_font("helvetica", size=8)
                self.cell(0, 10, f"Page {self.page_no()}", align="C")

    writer = Writer()
    for lines in pages:
        writer.add_page()
        writer.set_font("helvetica", size=11)
        for line in lines:
            writer.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(writer.output())


# --- plain text ----------------------------------------------------------------------------


def test_wrapped_text_is_one_sentence_across_its_line_break(tmp_path: Path) -> None:
    body = (
        "The survey team spent three weeks on the island and counted every nesting pair on the\n"
        "northern cliffs. The lead botanist\n"
        "was Kwame Asante-Bello, who had worked on the island for many years before the survey.\n"
    )
    document = load(tmp_path, "notes.txt", "Island survey report for the year\n\n" + body)
    assert "The lead botanist was Kwame Asante-Bello, who" in document.text
    assert "The lead botanist was Kwame Asante-Bello, who had worked on the island for many " in (
        " ".join(answers(document))
    )
    assert document.title == "Island survey report for the year"
    assert "Island survey report for the year" not in answers(document), "a heading"


def test_hard_wrapped_paragraphs_join_and_blank_lines_separate(tmp_path: Path) -> None:
    import textwrap

    words = " ".join(f"Word{n}" for n in range(40))
    wrapped = textwrap.fill(words, 72)
    assert wrapped.count("\n") >= 3
    document = load(tmp_path, "w.txt", f"{wrapped}\n\nSecond paragraph here.\n")
    assert document.text == f"{words}\n\nSecond paragraph here."


def test_paged_text_drops_running_headers_and_joins_sentences_across_pages(tmp_path: Path) -> None:
    # Real pages differ in their body lines; only the running lines repeat.
    subjects = ["The client", "A server", "Each resolver", "Any relay"]
    words = ["first", "second", "third", "fourth"]
    pages = []
    for n, (subject, word) in enumerate(zip(subjects, words, strict=True), start=1):
        opening = f"   counts {words[n - 2]} in line.\n\n" if n > 1 else ""
        pages.append(
            f"RFC 9999          Example Protocol          May 2030\n\n{opening}"
            f"   {subject} keeps its records for a while, and when the time runs out\n"
            f"   it asks again. The {word} record that\n\nAuthor      Standards Track      [Page {n}]\n"
        )
    document = load(tmp_path, "rfc.txt", "\f\n".join(pages))
    assert "RFC 9999" not in document.text and "[Page" not in document.text
    assert [p.page for p in document.pages] == [1, 2, 3, 4]
    assert "The first record that counts first in line." in answers(document)
    start = document.text.index("The first record that")
    assert document.page_at(start) == 1 and document.page_at(document.text.index("Any relay")) == 4


def test_short_lines_indented_past_the_body_are_not_headings_but_a_centred_title_is(
    tmp_path: Path,
) -> None:
    body = "   A courier calls at each street in turn, from the longest to\n"
    # Centred over the body, and indented less deeply than code.
    title = "Delivery Notes for Couriers of the Small Town Office".center(len(body) - 1).rstrip()
    assert 3 < len(title) - len(title.lstrip()) < 7
    text = (
        f"{title}\n\n{body}   the shortest, and it stops at the first one it reaches:\n\n"
        "      Oak Street\n      Elm Road\n\n"
        "   Each parcel is held for a day at most.\n"
    )
    document = load(tmp_path, "courier.txt", text)
    headings = [t for k, t in kinds(document) if k == "heading"]
    assert headings == ["Delivery Notes for Couriers of the Small Town Office"]
    assert document.blocks[-1].section == headings[0]
    assert "Oak Street" in document.text


def test_a_list_item_s_hanging_lines_stay_in_the_item(tmp_path: Path) -> None:
    text = (
        "The pump picks its speed in this order, from the first rule that holds:\n\n"
        "   o  When the tank is below half and the valve is open, the speed is\n"
        "      Fast (the default)\n\n"
        "   o  Slow in every other case.\n\n"
        "The order never changes while the pump runs.\n"
    )
    document = load(tmp_path, "pump.txt", text)
    items = [t for k, t in kinds(document) if k == "list_item"]
    assert items == [
        "When the tank is below half and the valve is open, the speed is Fast (the default)",
        "Slow in every other case.",
    ]
    assert not [t for k, t in kinds(document) if k == "heading"]


def test_a_paragraph_s_hanging_indented_lines_stay_in_the_paragraph(tmp_path: Path) -> None:
    text = (
        "The station sends a report on the hour, every hour of the day.\n\n"
        "<count> = the number of parcels taken in this hour.  Note that this is\n"
        "\t  the number of parcels, and not the number of sacks they came in.\n"
        "\t  It should match the number of receipts.\n\n"
        "An example of a report:\n"
        "      count=12 sacks=3\n"
    )
    document = load(tmp_path, "report.txt", text)
    assert answers(document)[:3] == [
        "The station sends a report on the hour, every hour of the day.",
        "<count> = the number of parcels taken in this hour.",
        "Note that this is the number of parcels, and not the number of sacks they came in.",
    ]
    # After a line that ends a sentence, an indented line is an example, not a hanging line.
    assert ("code", "count=12 sacks=3") in kinds(document)


def test_plain_text_table_in_columns_becomes_rows_with_their_headers(tmp_path: Path) -> None:
    """A table set in columns (two spaces or more between cells) is rows pairing each cell with
    its header, the headers taken from a rule of dashes or from a short run set over the same
    columns, a header wrapped onto two lines read whole. Wrapped prose with two spaces after its
    stops, and indented code with its comments lined up, are no tables."""
    text = (
        "Depot states\n============\n\n"
        "Each parcel is in one of the states below.  The desk moves it on.  It never skips\n"
        "a state.  A parcel that fails a check waits.  The desk logs each move it makes\n"
        "as it happens.  Logs are kept.\n\n"
        "  State       Waiting   Checked   Remedy\n"
        "              parcels   parcels\n\n"
        "  sorted      never     always    none\n"
        "  held        yes       never     call the sender\n"
        "  returned    no        always    refund\n\n"
        "Fees\n====\n\n"
        "  Size    Price   Days\n"
        "  ------  ------  ----\n"
        "  small   3 EUR   2\n"
        "  medium  5 EUR   3     by van\n"
        "  large   9 EUR   4\n\n"
        "The desk keeps these records:\n\n"
        "        uint32    id        /* parcel id */\n"
        "        uint64    weight    /* in grams */\n"
    )
    document = load(tmp_path, "depot.txt", text)
    rows = [text for kind, text in kinds(document) if kind == "table_row"]
    assert (
        rows
        == [
            "State: sorted · Waiting parcels: never · Checked parcels: always · Remedy: none",
            "State: held · Waiting parcels: yes · Checked parcels: never · Remedy: call the sender",
            "State: returned · Waiting parcels: no · Checked parcels: always · Remedy: refund",
            "Size: small · Price: 3 EUR · Days: 2",
            "Size: medium · Price: 5 EUR · Days: 3 by van",  # a cell off the columns joins the one before
            "Size: large · Price: 9 EUR · Days: 4",
        ]
    )
    assert ("code", "uint32    id        /* parcel id */\nuint64    weight    /* in grams */") in (
        kinds(document)
    )
    assert answers(document)[0] == "Each parcel is in one of the states below."
    assert "State Waiting" not in document.text


def test_rst_readme_badges_directive_options_and_rules_are_markup(tmp_path: Path) -> None:
    """A package README opens with badges (substitution references) before its title; a
    directive's options are indented under it by three spaces; a table's rule is no sentence.
    None of them is prose, and the title is the first underlined heading after the badges. A
    note's body is prose."""
    text = (
        "|Logo|\n\n"
        "gizmo\n=====\n\n"
        "|Build| |Coverage| |Downloads|\n\n"
        "Gizmo counts parcels in the depot every hour.\n\n"
        ".. |Logo| image:: https://example.org/logo.png\n"
        "   :target: https://example.org\n\n"
        ".. note::\n"
        "   The count runs even at night.\n\n"
        "Sizes, one row under a rule:\n\n"
        "  Size    Price   Days\n"
        "  ------  ------  ----\n"
        "  small   3 EUR   2\n\n"
        "Weights\t\tfor\tparcels\n"
        "------\t\t---\t-------\n"
        "light\t\tby\thand\n"
    )
    document = load(tmp_path, "README.rst", text)
    assert document.title == "gizmo"
    assert answers(document) == [
        "Gizmo counts parcels in the depot every hour.",
        "The count runs even at night.",
        "Sizes, one row under a rule:",
        "Size: small · Price: 3 EUR · Days: 2",
        "Weights: light · for: by · parcels: hand",
    ]
    assert (
        "code",
        ".. |Logo| image:: https://example.org/logo.png\n   :target: https://example.org",
    ) in (kinds(document))


def test_rst_simple_table_columns_are_marked_out_by_its_rules(tmp_path: Path) -> None:
    """reStructuredText's simple table: the rule's runs mark out the columns, numbers may stand
    to the right in theirs, the headers sit between the first two rules, and a line with an
    empty first column carries on the row above."""
    text = (
        "Parcel weights\n==============\n\n"
        "The depot weighs every parcel class.\n\n"
        "=============  =====  ======  =========\n"
        "                 Min     Max  Note\n"
        "=============  =====  ======  =========\n"
        "small parcel     0.1     2.0  by hand\n"
        "large parcel     2.0    30.0  by crane,\n"
        "                              at noon\n"
        "=============  =====  ======  =========\n"
    )
    document = load(tmp_path, "weights.rst", text)
    assert [text for kind, text in kinds(document) if kind == "table_row"] == [
        "small parcel · Min: 0.1 · Max: 2.0 · Note: by hand",
        "large parcel · Min: 2.0 · Max: 30.0 · Note: by crane, at noon",
    ]


def test_a_box_drawing_is_code_even_where_a_line_of_it_starts_with_words(tmp_path: Path) -> None:
    """A state diagram drawn with box characters is no prose: a line that opens with a label at
    the margin ("(manual)│ ┌───┐") must not start a paragraph that swallows the drawing."""
    text = (
        "A parcel that fails its check goes back to the sorting desk for a second look.\n\n"
        "            │\n"
        "      ┌─────┴─────┐\n"
        "      │  sorting  │\n"
        "      └─────┬─────┘\n"
        " (manual)   │      ┌──────────┐\n"
        "            │      │ returned │\n"
        "            v      └──────────┘\n\n"
        "The desk keeps a log of every parcel it sends back.\n"
    )
    document = load(tmp_path, "parcels.txt", text)
    assert answers(document) == [
        "A parcel that fails its check goes back to the sorting desk for a second look.",
        "The desk keeps a log of every parcel it sends back.",
    ]
    assert [kind for kind, _ in kinds(document)] == ["paragraph", "code", "paragraph"]


def test_rst_overlined_titles_and_explicit_markup(tmp_path: Path) -> None:
    text = (
        "=====\nGizmo\n=====\n\n"
        ".. image:: https://example.org/badge.svg\n"
        "    :alt: build status\n\n"
        "-------------------------\nCounting parcels by hour\n-------------------------\n\n"
        "Gizmo counts the parcels of the small town office every hour.\n\n"
        "Basic example::\n\n"
        "   import gizmo\n\n"
        "   gizmo.count(every='hour')\n\n"
        ".. _parcels: https://example.org/parcels\n"
    )
    document = load(tmp_path, "gizmo.rst", text)
    assert document.title == "Gizmo"
    assert [t for k, t in kinds(document) if k == "heading"] == [
        "Gizmo",
        "Counting parcels by hour",
    ]
    # Directives, their options, link targets and the literal block after "::", however deeply
    # it is indented, are markup and code: searchable, never an answer.
    assert answers(document) == [
        "Gizmo counts the parcels of the small town office every hour.",
        "Basic example:",  # reStructuredText's "::" introducing a listing reads as ":"
    ]
    assert ("code", "gizmo.count(every='hour')") in kinds(document)


def test_a_line_ending_on_a_word_like_to_goes_on_into_the_next(tmp_path: Path) -> None:
    text = (
        "The library lends books for three weeks and asks for no fee from its readers.\n"
        "It opens at nine. The reading room is next to\n"
        "Hall B of the old school.\n"
    )
    document = load(tmp_path, "library.txt", text)
    assert answers(document)[-1] == "The reading room is next to Hall B of the old school."


def test_a_finished_sentence_at_a_page_break_ends_its_paragraph(tmp_path: Path) -> None:
    pages = [
        "Relay Notes\n\n   The relay keeps no state for the sender and answers each request\n"
        "   on its own.\n",
        "2. Forwarding\n\n   The relay forwards each frame at once, in the order listed:\n\n"
        "      Frame    Port\n      data     4000\n",
        "3. Limits\n\n   The relay drops frames over the size limit.\n",
    ]
    document = load(tmp_path, "relay.txt", "\f".join(pages))
    headings = [t for k, t in kinds(document) if k == "heading"]
    assert headings == ["Relay Notes", "2. Forwarding", "3. Limits"]
    assert "The relay keeps no state for the sender and answers each request on its own." in (
        answers(document)
    )
    assert document.blocks[-1].section == "3. Limits"
    assert document.page_at(document.text.index("2. Forwarding")) == 2


def test_contents_lines_and_shell_lines_are_never_answers(tmp_path: Path) -> None:
    text = (
        "Contents\n\n1. Introduction ........................ 3\n2. Setup ........................ 7\n\n"
        "Install the tool with the package manager before the first run.\n\n"
        "$ tool install --global\n"
    )
    document = load(tmp_path, "guide.txt", text)
    quoted = answers(document)
    assert quoted == ["Install the tool with the package manager before the first run."]
    assert "$ tool install --global" in document.text, "code stays searchable"


def test_tab_indented_lines_are_code_not_headings(tmp_path: Path) -> None:
    text = (
        "Fan settings\n============\n\n"
        "The speed field of the fan controller takes one of the following values:\n\n"
        "\tFAN_LOW     1\t\t/* quiet */\n\tFAN_HIGH    2\t\t/* loud */\n\n"
        "The zone number names the fan at the back of the case of the machine.\n"
    )
    document = load(tmp_path, "fans.txt", text)
    assert [t for k, t in kinds(document) if k == "heading"] == ["Fan settings"]
    assert document.blocks[-1].section == "Fan settings"
    listing = ["\tFAN_LOW     1\t\t/* quiet */", "\tFAN_HIGH    2\t\t/* loud */"]
    code = "\n".join(line.expandtabs()[8:] for line in listing)
    assert ("code", code) in kinds(document), "code keeps its lines"


def test_numbered_section_headings_are_headings_and_a_loose_numbered_list_is_not(
    tmp_path: Path,
) -> None:
    text = (
        "1. Moorings\n\nThe east pier takes boats up to twelve metres in length.\n\n"
        "1.1. visitors: short stays and\n     day passes\n\n"
        "Visitors pay at the office before noon.\n\n"
        "2. Fuel\n\nDiesel is sold from the west quay on weekdays.\n\n"
        "To book a berth:\n\n1. Call the office\n\n2. Give the name of the boat\n"
    )
    document = load(tmp_path, "harbour.txt", text)
    headings = [t for k, t in kinds(document) if k == "heading"]
    assert headings == ["1. Moorings", "1.1. visitors: short stays and day passes", "2. Fuel"]
    sections = {document.text[b.start : b.end]: b.section for b in document.blocks}
    assert sections["Visitors pay at the office before noon."].startswith("1.1.")
    assert sections["Diesel is sold from the west quay on weekdays."] == "2. Fuel"
    items = [t for k, t in kinds(document) if k == "list_item"]
    assert items == ["Call the office", "Give the name of the boat"]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("utf-16", "Caf\u00e9 cr\u00e8me, na\u00efve."), ("cp1252", "Caf\u00e9 \u201cquoted\u201d.")],
)
def test_utf16_and_cp1252_files_are_read(tmp_path: Path, encoding: str, text: str) -> None:
    assert load(tmp_path, "n.txt", text.encode(encoding)).text == text


def test_a_page_saved_from_a_terminal_is_read_without_its_formatting(tmp_path: Path) -> None:
    """`man` output kept with its formatting: escape sequences (bold, underline, colour, links)
    and overstrikes (bold "x\bx", underline "_\bx" or "x\b_", the bullet "+\bo")."""
    bold = "".join(f"{c}\b{c}" for c in "NAME")
    underlined = "".join(f"_\b{c}" for c in "/etc/fstab")
    after = "".join(f"{c}\b_" for c in "mount")
    text = (
        f"{bold}\n\n"
        f"The \x1b[1mmount\x1b[22m table is read from {underlined} at boot.\n\n"
        f"+\bo Run {after} to see it, in \x1b[38;5;196mred\x1b[0m when it fails.\n\n"
        "See \x1b]8;;https://example.org\x1b\\the manual\x1b]8;;\x1b\\ for more.\n"
    )
    document = load(tmp_path, "mount.txt", text)
    assert "\x1b" not in document.text and "\b" not in document.text
    assert answers(document) == [
        "The mount table is read from /etc/fstab at boot.",
        "Run mount to see it, in red when it fails.",
        "See the manual for more.",
    ]
    assert ("list_item", "Run mount to see it, in red when it fails.") in kinds(document)


def test_restructuredtext_inline_markup_shows_only_its_text(tmp_path: Path) -> None:
    text = (
        "Harbour tools\n=============\n\n"
        "The ``moor`` command raises a *MooringError* when the **tide** is out\n"
        "at the berth; see `Tide tables`_, :func:`harbour.tide` and the notes in\n"
        "`the almanac <https://example.org/a>`_ for the hours of each harbour.\n\n"
        "``Berths``\n----------\n\n"
        "Run it like this::\n\n    moor --berth 4\n\n"
        "Or with a pilot ::\n\n    moor --pilot\n\n"
        "::\n\n    moor --help\n\n"
        "A fee of 2*3*4 units, or * per boat, is paid on *args.\n"
    )
    document = load(tmp_path, "tools.rst", text)
    assert answers(document) == [
        "The moor command raises a MooringError when the tide is out at the berth; see "
        "Tide tables, harbour.tide and the notes in the almanac for the hours of each harbour.",
        "Run it like this:",  # a lead-in, with the reStructuredText "::" read as ":"
        "Or with a pilot",  # " ::" after a space is left out, and the lead-in is no heading
        "A fee of 2*3*4 units, or * per boat, is paid on *args.",  # no markup: kept as written
    ]
    assert ("heading", "Berths") in kinds(document)
    paragraphs = [t for k, t in kinds(document) if k == "paragraph"]
    assert "Run it like this:" in paragraphs and "Or with a pilot" in paragraphs
    assert "::" not in document.text.replace("moor --", "")
    assert [t for k, t in kinds(document) if k == "code"] == [
        "moor --berth 4",
        "moor --pilot",
        "moor --help",
    ]


def test_a_restructuredtext_csv_table_is_read_as_rows(tmp_path: Path) -> None:
    text = (
        "Ferries\n=======\n\n"
        ".. csv-table:: Crossings\n"
        '   :header: "route", "boat", "minutes"\n'
        "   :widths: 20, 10, 10\n\n"
        '   "North quay", "**Elsa**", 40\n'
        '   "South quay", "Marit", "55, or 70 in\n   winter"\n\n'
        ".. csv-table::\n   :header-rows: 1\n\n"
        "   fee, paid at\n   12, the office\n\n"
        "Tickets are sold on board.\n"
    )
    document = load(tmp_path, "ferries.rst", text)
    rows = [t for k, t in kinds(document) if k == "table_row"]
    assert rows == [
        "route: North quay · boat: Elsa · minutes: 40",
        "route: South quay · boat: Marit · minutes: 55, or 70 in winter",
        "fee: 12 · paid at: the office",
    ]
    assert answers(document)[-1] == "Tickets are sold on board."
    assert not any("csv-table" in sentence for sentence in answers(document))


def test_a_page_mark_moves_with_the_markup_taken_out_before_it(tmp_path: Path) -> None:
    pages = [
        "The ``moor`` command and the **tide** table are\n",
        "read at dawn by the *harbour* master.\n",
        "Boats leave at noon.\n",
    ]
    document = load(tmp_path, "log.txt", "\f".join(pages))
    assert "The moor command and the tide table are read at dawn" in document.text
    assert document.page_at(document.text.index("read at dawn")) == 2
    assert document.page_at(document.text.index("are read")) == 1


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_heading_is_structure_and_front_matter_gives_the_title(tmp_path: Path) -> None:
    text = (
        "---\ntitle: Lighthouse notes\nauthor: someone\n---\n\n# The Lighthouse of Varn\n\n"
        "The keeper was\nMatilda Oskar, *who* kept\nthe log.\n\n"
        "> The lamp was lit at dusk.\n> Every day.\n\n"
        "```sh\nlamp --light\n```\n\n    indented code line\n\n"
        "- First item text.\n- Second item.\n\n| Setting | Default |\n|---|---|\n| port | 5173 |\n"
    )
    document = load(tmp_path, "l.md", text)
    assert document.title == "Lighthouse notes"
    assert answers(document) == [
        "The keeper was Matilda Oskar, who kept the log.",
        "The lamp was lit at dusk.",
        "Every day.",
        "First item text.",
        "Second item.",
        "Setting: port · Default: 5173",
    ]
    assert ("heading", "The Lighthouse of Varn") in kinds(document)
    assert ("code", "lamp --light") in kinds(document)
    assert ("code", "indented code line") in kinds(document)
    assert ">" not in document.text and "---" not in document.text and "|" not in document.text


def test_markdown_without_front_matter_takes_its_first_heading(tmp_path: Path) -> None:
    document = load(tmp_path, "g.md", "Intro line.\n\n## Setting up ##\n\nRun it.\n")
    assert document.title == "Setting up"
    assert document.blocks[-1].section == "Setting up"


def test_admonition_markers_are_dropped(tmp_path: Path) -> None:
    document = load(tmp_path, "a.md", ":::note\nKeep backups.\n:::\n\n> [!NOTE]\n> Use care.\n")
    assert answers(document) == ["Keep backups.", "Use care."]


def test_a_closing_admonition_keeps_the_heading_after_it(tmp_path: Path) -> None:
    text = "::: details Set it by hand\nSet the flag by hand.\n:::\n\n## cache.size\n\nIt caps the cache.\n"
    document = load(tmp_path, "a.md", text)
    assert ("heading", "cache.size") in kinds(document)
    assert answers(document) == ["Set the flag by hand.", "It caps the cache."]
    assert document.blocks[-1].section == "cache.size"


def test_markdown_contents_list_is_not_quoted_and_other_links_are(tmp_path: Path) -> None:
    """An item that only links to a heading of the file is a contents entry, not a sentence."""
    text = (
        "# Gizmo manual\n\n## Contents\n\n"
        "- [Setting up the gizmo](#setting-up-the-gizmo)\n  - [Power](#power)\n"
        "- [Memory](#memory)\n\n"
        "## Setting up the gizmo\n\nGizmo starts in two seconds.\n\n"
        "### Power\n\nGizmo draws four watts.\n\n"
        "- See [the toolbox](tools.md) for spare parts.\n"
        "- Read [Memory](#memory) before you start.\n"
    )
    document = load(tmp_path, "gizmo.md", text)
    assert answers(document) == [
        "Gizmo starts in two seconds.",
        "Gizmo draws four watts.",
        "See the toolbox for spare parts.",
        "Read Memory before you start.",
    ]


def test_markdown_br_keeps_the_words_around_it_apart(tmp_path: Path) -> None:
    text = (
        "Ports are listed below.<br>Each one is opened at start.\n\n"
        "| Flag | Meaning |\n| --- | --- |\n"
        "| `--size` | Box size<br>small: one cup<br/>large: ten cups |\n"
    )
    document = load(tmp_path, "flags.md", text)
    assert kinds(document) == [
        ("paragraph", "Ports are listed below. Each one is opened at start."),
        (
            "table_row",
            "Flag: --size · Meaning: Box size\nsmall: one cup\nlarge: ten cups",
        ),
    ]
    assert_quotes_verify(document)


def test_markdown_template_shortcodes_are_markup_not_text(tmp_path: Path) -> None:
    text = (
        "## Bulbs\n\n"
        'Plant them in `autumn` ([see the planting guide]({{< relref "garden#bulbs" >}}'
        ' "garden notes")) or in early spring.\n\n'
        "{{% note %}}\nWater them once a week.\n{{% /note %}}\n"
    )
    document = load(tmp_path, "bulbs.md", text)
    assert answers(document) == [
        "Plant them in autumn (see the planting guide) or in early spring.",
        "Water them once a week.",
    ]


def test_markdown_note_marks_go_and_html_blocks_keep_their_structure(tmp_path: Path) -> None:
    text = (
        "# Harbour notes\n\n"
        "The harbour handled 900 tonnes in October.[^1] Storms closed the quay<sup>2</sup> for\n"
        "four days. The basin covers 3 km<sup>2</sup>.\n\n"
        '<h3 name="ferry">\nWhen does the ferry leave?\n</h3>\n\n'
        "The ferry leaves at nine.\n\n"
        "[^1]: Harbour log, 2030.\n"
    )
    document = load(tmp_path, "notes.md", text)
    sentences = answers(document)
    assert "The harbour handled 900 tonnes in October." in sentences
    assert "Storms closed the quay for four days." in sentences
    assert "The basin covers 3 km2." in sentences
    assert "Harbour log, 2030." in sentences
    assert "When does the ferry leave?" not in sentences
    ferry = document.text.index("The ferry leaves")
    block = next(b for b in document.blocks if b.start <= ferry < b.end)
    assert block.section == "When does the ferry leave?"


def test_a_markdown_page_that_opens_with_an_html_header_takes_its_heading_as_title(
    tmp_path: Path,
) -> None:
    text = (
        '<div align="center">\n\n<h1>Gizmo</h1>\n\n<i>Counts parcels, fast.</i>\n\n</div>\n\n'
        "Gizmo counts the parcels of the small town office every hour.\n\n"
        "## Installation\n\nInstall it with the package manager of your system.\n"
    )
    document = load(tmp_path, "gizmo.md", text)
    assert document.title == "Gizmo"


# --- HTML ----------------------------------------------------------------------------------


def test_html_inline_tags_flow_and_boilerplate_is_dropped(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Museum</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/x'>Visit</a></nav><header>Site name</header>"
        "<h1>The Snorkel Museum</h1>"
        "<p>The Snorkel Museum has <b>3,400</b> exhibits and opened in <a href='/y'>1975</a>.</p>"
        "<table><tr><th>Room</th><th>Floor</th></tr><tr><td>Reef hall</td><td>2</td></tr></table>"
        "<pre>GET /tickets</pre><footer>Copyright notice.</footer></body></html>"
    )
    document = load(tmp_path, "m.html", page)
    assert document.title == "Museum"
    assert answers(document) == [
        "The Snorkel Museum has 3,400 exhibits and opened in 1975.",
        "Room: Reef hall · Floor: 2",
    ]
    for gone in ("Home", "Visit", "Site name", "Copyright"):
        assert gone not in document.text
    assert ("code", "GET /tickets") in kinds(document)


def test_html_manual_navigation_panels_are_dropped(tmp_path: Path) -> None:
    # Texinfo and DocBook manuals put "Next / Previous / Up" panels in classed divs, not <nav>.
    page = (
        "<html><head><title>Gizmo manual</title></head><body><div class='chapter'>"
        "<div class='header'><p>Next: <a rel='next' href='b.html'>Limits</a>, "
        "Up: <a rel='up' href='i.html'>Gizmo</a> [<a href='x.html'>Index</a>]</p></div>"
        "<div class='navheader'><table><tr><td><a href='a.html'>Prev</a></td>"
        "<td>Chapter 3. Memory</td><td><a href='c.html'>Next</a></td></tr></table></div>"
        "<h2>Memory</h2><p>Gizmo frees every parcel it counts.</p>"
        "<div class='nav-panel'><p>Previous: <a rel='prev' href='a.html'>Setup</a></p></div>"
        "</div></body></html>"
    )
    document = load(tmp_path, "memory.html", page)
    assert answers(document) == ["Gizmo frees every parcel it counts."]
    for gone in ("Next:", "Prev", "Previous:", "Index"):
        assert gone not in document.text


def test_html_table_of_contents_is_not_quoted_and_other_link_lists_are(tmp_path: Path) -> None:
    """A list of links to the page's own headings is its table of contents: the headings below
    say the same, and its entries are no sentences. A list of links elsewhere is content."""
    page = (
        "<html><head><title>Gizmo manual</title></head><body><div class='toc'><ul>"
        "<li><a href='#setup'>Setting up the gizmo</a><ul>"
        "<li><a href='#power'>Power</a></li></ul></li>"
        "<li><a href='#memory'>Memory</a></li></ul></div>"
        "<h2 id='setup'>Setting up the gizmo</h2><p>Gizmo starts in two seconds.</p>"
        "<h3 id='power'>Power</h3><p>Gizmo draws four watts.</p>"
        "<h2 id='memory'>Memory</h2><p>Gizmo frees every parcel it counts.</p>"
        "<ul><li><a href='tools.html'>The gizmo toolbox</a></li>"
        "<li><a href='faq.html'>Questions people ask about the gizmo</a></li>"
        "<li><a href='#memory'>Back to memory</a></li></ul>"
        "</body></html>"
    )
    document = load(tmp_path, "gizmo.html", page)
    assert answers(document) == [
        "Gizmo starts in two seconds.",
        "Gizmo draws four watts.",
        "Gizmo frees every parcel it counts.",
        "The gizmo toolbox",
        "Questions people ask about the gizmo",
        "Back to memory",
    ]
    assert document.text.count("Setting up the gizmo") == 1


def test_html_definition_terms_head_their_descriptions(tmp_path: Path) -> None:
    # A glossary or an option list names its subject only in the term: the description is read
    # under it, as a paragraph under its heading, and the text after the list is not.
    page = (
        "<html><body><h2>Groups</h2><dl>"
        "<dt>staff</dt><dd><p>Allows users to add local changes without root.</p></dd>"
        "<dt><code>--quiet</code></dt><dd>Prints nothing but errors.</dd>"
        "</dl><p>Other groups are made by the packages that need them.</p></body></html>"
    )
    document = load(tmp_path, "groups.html", page)
    sections = {document.text[b.start : b.end]: b.section for b in document.blocks}
    assert sections["Allows users to add local changes without root."] == "Groups · staff"
    assert sections["Prints nothing but errors."] == "Groups · --quiet"
    assert sections["Other groups are made by the packages that need them."] == "Groups"
    assert answers(document) == [
        "Allows users to add local changes without root.",
        "Prints nothing but errors.",
        "Other groups are made by the packages that need them.",
    ]


def test_html_description_opening_in_lower_case_is_read_with_its_term(tmp_path: Path) -> None:
    """ "restat" / "if present, re-reads …": a description that goes on from its term in lower
    case is no sentence without it, so its first paragraph reads "term: description". One that
    stands alone keeps its text, and a term never reaches past its own description."""
    page = (
        "<html><body><h2>Rule variables</h2><dl>"
        "<dt>restat</dt><dd><p>if present, re-reads the outputs after the command.</p>"
        "<p>This saves rebuilds.</p></dd>"
        "<dt>depth</dt><dd>Sets how many jobs run at once.</dd>"
        "<dt>Parameters</dt><dd><table><tr><td>handle</td><td>the instance</td></tr></table></dd>"
        "</dl><p>encode the image last.</p></body></html>"
    )
    document = load(tmp_path, "rules.html", page)
    assert answers(document) == [
        "restat: if present, re-reads the outputs after the command.",
        "This saves rebuilds.",
        "Sets how many jobs run at once.",
        "handle · the instance",
        "encode the image last.",
    ]


def test_html_listing_of_a_table_in_columns_is_rows_and_other_listings_are_code(
    tmp_path: Path,
) -> None:
    """A manual prints a property table as a listing in a one-cell frame: columns under a rule
    of dashes are rows pairing each cell with its header; a listing without a rule stays code."""
    page = (
        "<html><body><h2>Properties</h2><table border='1'><tr><td><pre>"
        "  Property    Type    Description\n"
        "  ----------------------------------\n"
        "  family      String  Font family names\n"
        "  slant       Int     Italic, oblique or roman\n"
        "</pre></td></tr></table>"
        "<pre>x = 1    y = 2    z = 3\nxx = 10  yy = 20  zz = 30\n</pre></body></html>"
    )
    document = load(tmp_path, "props.html", page)
    assert answers(document) == [
        "Property: family · Type: String · Description: Font family names",
        "Property: slant · Type: Int · Description: Italic, oblique or roman",
    ]
    assert ("code", "x = 1    y = 2    z = 3\nxx = 10  yy = 20  zz = 30") in kinds(document)


def test_html_page_wrapped_in_a_form_keeps_its_text_and_drops_the_controls(
    tmp_path: Path,
) -> None:
    page = (
        "<html><body><form action='/search'><input name='q'><button>Search</button></form>"
        "<form id='page' method='post'><h1>Backup guide</h1>"
        "<p>Backups run every night at two.</p><textarea>draft</textarea>"
        "<select><option>English</option></select></form></body></html>"
    )
    document = load(tmp_path, "guide.html", page)
    assert kinds(document) == [
        ("heading", "Backup guide"),
        ("paragraph", "Backups run every night at two."),
    ]


def test_html_note_marks_leave_the_sentence_text(tmp_path: Path) -> None:
    page = (
        "<html><body><h1>Harbour report</h1>"
        "<p>The harbour handled 900 tonnes in October.<sup>12</sup> Storms closed the quay"
        "<sup><a href='#n2'>[2]</a></sup> for four days.</p>"
        "<p>Repairs cost 40 million<a href='#fn3' class='footnote-ref'>3</a> in total.</p>"
        "<p>The basin covers 3 km<sup>2</sup> and holds 10<sup>6</sup> litres, see "
        "<a href='#tides'>tides</a>.</p>"
        "<ol><li id='n2'>Harbour log.</li></ol></body></html>"
    )
    document = load(tmp_path, "h.html", page)
    sentences = answers(document)
    assert "The harbour handled 900 tonnes in October." in sentences
    assert "Storms closed the quay for four days." in sentences
    assert "Repairs cost 40 million in total." in sentences
    # Exponents are not note marks, and an in-page link with words is text.
    assert "The basin covers 3 km2 and holds 106 litres, see tides." in sentences
    assert_quotes_verify(document)


def test_html_heading_inside_a_table_row_heads_the_rows_after_it(tmp_path: Path) -> None:
    page = (
        "<html><body><h1>Workshop</h1><p>The workshop lends its tools.</p><table>"
        "<tr><td colspan='2'><h2>Hand tools</h2></td></tr>"
        "<tr><td>saw</td><td>two</td></tr><tr><td colspan='2'>Saws are sharpened weekly.</td></tr>"
        "<tr><td colspan='2'><h2><a id='p'></a>Power tools</h2></td></tr>"
        "<tr><td>drill</td><td>one</td></tr>"
        "<tr><td colspan='2'>Drills need a card.</td></tr></table></body></html>"
    )
    document = load(tmp_path, "tools.html", page)
    assert [t for k, t in kinds(document) if k == "heading"] == [
        "Workshop",
        "Hand tools",
        "Power tools",
    ]
    sections = {document.text[b.start : b.end]: b.section for b in document.blocks}
    assert sections["Saws are sharpened weekly."] == "Hand tools"
    assert sections["Drills need a card."] == "Power tools"


def test_html_table_cells_keep_their_br_line_breaks_and_inline_markup_flows(tmp_path: Path) -> None:
    page = (
        "<html><body><h2>Limits of <code>name</code> length</h2><table>"
        "<tr><td>Pick a limit for the systems you need:<br/>&nbsp; 14 characters: old tapes<br/>"
        "&nbsp; 40 characters: card readers</td><td>Short names travel far.</td></tr>"
        "<tr><td><code>q</code>: value <code>1</code>-<code>9</code> (<code>9</code> is best)</td>"
        "<td><p>Sets the level</p><p>for all files.</p></td></tr></table>"
        "<table><tr><th>Status:</th><td>Stable</td></tr></table>"
        "<table><tr><td>Tokens:<table><tr><td><code>sec</code></td><td>seconds</td></tr>"
        "<tr><td><code>msec</code></td><td>milliseconds</td></tr></table></td></tr></table>"
        "</body></html>"
    )
    document = load(tmp_path, "t.html", page)
    sentences = answers(document)
    # A <br> in a cell ends a line: the entries are not one long sentence.
    assert "14 characters: old tapes" in sentences
    assert "40 characters: card readers · Short names travel far." in sentences
    # Inline markup inside a cell flows without added spaces; paragraphs in a cell flow on.
    assert "q: value 1-9 (9 is best) · Sets the level for all files." in sentences
    # A row header pairs with its value.
    assert "Status: Stable" in sentences
    # A table inside a cell: its rows are lines, its cells apart.
    assert "sec seconds" in sentences and "msec milliseconds" in sentences
    assert ("heading", "Limits of name length") in kinds(document)
    assert_quotes_verify(document)


# --- PDF -----------------------------------------------------------------------------------


def test_pdf_pages_hold_their_text_and_running_headers_go(tmp_path: Path) -> None:
    pages = [
        ["Annual field report", "The first page opens the report with a long line of text."],
        ["The second page says the river rose by four metres in spring."],
        ["The third page says the bridge reopened in late autumn."],
    ]
    document = load(tmp_path, "r.pdf", pdf(pages, header="Field Report 2030", numbers=True))
    assert "Field Report 2030" not in document.text and "Page 2" not in document.text
    assert document.title == "Annual field report"
    for number, phrase in ((2, "the river rose"), (3, "the bridge reopened")):
        start = document.text.index(phrase)
        assert document.page_at(start) == number
    chunks = chunk_document(document, get_encoding(CHUNKING_ENCODING), 250, 50)
    for chunk in chunks:
        for start, end in chunk.answer_spans():
            quote = document.text[start:end]
            assert chunk.text[start - chunk.start : end - chunk.start] == quote
            expected = 3 if "bridge" in quote else 2 if "river" in quote else 1
            assert chunk.page_of(start, end) == expected, quote


def test_pdf_line_end_hyphen_and_ligature_are_joined(tmp_path: Path) -> None:
    lines = [
        "The committee approved the environ-",
        "mental plan after a long and careful",
        "review.",
    ]
    document = load(tmp_path, "h.pdf", pdf([lines]))
    assert "environmental plan after a long and careful review." in document.text


def test_pdf_directive_and_command_lines_are_code_not_part_of_the_sentence_after(
    tmp_path: Path,
) -> None:
    lines = [
        "The pump firmware reads its limits at start-up.",
        "#define MAX_FLOW 40",
        "This setting caps the flow in litres a minute.",
        "$ make flash",
        "The board restarts when the upload ends.",
        "2. #include <pump.h>",
        "That header names every register.",
    ]
    document = load(tmp_path, "c.pdf", pdf([lines]))
    assert answers(document) == [
        "The pump firmware reads its limits at start-up.",
        "This setting caps the flow in litres a minute.",
        "The board restarts when the upload ends.",
        "That header names every register.",
    ]
    assert ("code", "#define MAX_FLOW 40") in kinds(document)
    assert_quotes_verify(document)


def test_pdf_line_end_hyphen_of_a_compound_is_kept(tmp_path: Path) -> None:
    lines = [
        "The garden keeps its rarest plants behind a wind-",
        "screen wall, and each bed is exam-",
        "ined in turn by the keeper of the garden.",
        "A wind-screen wall keeps the frost out in winter.",
        "The keeper of the garden sows tall-",
        "grass seed; the grass grows tall by the end of June.",
    ]
    document = load(tmp_path, "garden.pdf", pdf([lines]))
    assert answers(document) == [
        "The garden keeps its rarest plants behind a wind-screen wall, and each bed is "
        "examined in turn by the keeper of the garden.",
        "A wind-screen wall keeps the frost out in winter.",
        "The keeper of the garden sows tall-grass seed; the grass grows tall by the end of June.",
    ]


def test_pdf_line_end_hyphen_after_a_function_word_is_joined(tmp_path: Path) -> None:
    # "be" and "cause" are both words of the page, but "be-" then "cause" breaks one word.
    lines = [
        "The keeper waters the beds at dawn be-",
        "cause the sun would burn wet leaves; the cause of most losses is frost.",
        "A bed may be left dry for a day.",
    ]
    document = load(tmp_path, "garden.pdf", pdf([lines]))
    assert answers(document)[0] == (
        "The keeper waters the beds at dawn because the sun would burn wet leaves; "
        "the cause of most losses is frost."
    )


def test_pdf_heading_ending_in_a_bracketed_name_is_a_heading(tmp_path: Path) -> None:
    lines = [
        "The cooler keeps all of its settings in a small set of registers.",
        "3.2 Fan Speed Register (fsr)",
        "The speed register holds the last speed that was set by the user.",
    ]
    document = load(tmp_path, "cooler.pdf", pdf([lines]))
    assert [t for k, t in kinds(document) if k == "heading"] == ["3.2 Fan Speed Register (fsr)"]
    assert document.blocks[-1].section == "3.2 Fan Speed Register (fsr)"


def test_a_short_line_ending_in_a_hyphen_is_not_a_heading(tmp_path: Path) -> None:
    lines = [
        "The firmware of the board hands out tokens to its clients.",
        "Each grant is tempo-",
        "rary and ends when the client disconnects from the board.",
    ]
    document = load(tmp_path, "grants.pdf", pdf([lines]))
    assert not [t for k, t in kinds(document) if k == "heading"]
    assert answers(document)[-1] == (
        "Each grant is temporary and ends when the client disconnects from the board."
    )
    text = "Print it:\n\nThe printer reads the page from - with cat -\n\nIt keeps the margins.\n"
    assert not [t for k, t in kinds(load(tmp_path, "print.txt", text)) if k == "heading"]


def test_pdf_symbol_font_bullets_mark_list_items() -> None:
    from retrieval.loaders.assembly import DocumentBuilder
    from retrieval.loaders.pdf import _add_lines

    builder = DocumentBuilder()
    lines: list[tuple[str, int]] = [
        ("The basket holds two kinds of fruit:", 1),
        ("\uf0b7 the apples from the north orchard, and", 1),
        ("\uf0d8 the pears from the old tree by the gate.", 1),
    ]
    _add_lines([list(lines)], builder)
    document = builder.build("b.pdf", "0", "b")
    assert kinds(document)[1:] == [
        ("list_item", "the apples from the north orchard, and"),
        ("list_item", "the pears from the old tree by the gate."),
    ]


def test_pdf_numbered_heading_after_a_code_line_is_a_heading(tmp_path: Path) -> None:
    lines = [
        "The fan settings file is put in place with a single command of this kind:",
        "install -m 644 fan.conf /etc/fans/",
        "3.4 Mount The Fans",
        "Each fan is screwed to the back of the case, and its speeds are given in Section",
        "4.2 Speeds And Noise",
        "which also lists the noise that each speed makes at one metre from the case.",
    ]
    document = load(tmp_path, "fans.pdf", pdf([lines]))
    assert [t for k, t in kinds(document) if k == "heading"] == ["3.4 Mount The Fans"]
    assert document.blocks[-1].section == "3.4 Mount The Fans"


def test_pdf_chapter_label_and_title_are_headings(tmp_path: Path) -> None:
    pages = [
        [
            "The interrupt lines of the board are wired to the controller on the left side.",
            "Each line is sampled once for every cycle of the bus clock of the board.",
        ],
        ["Chapter 4", "Wiring", "The board was first wired in a small workshop by two people."],
        ["Appendix B", "Bus Timing, version 2.1", "The bus runs at one speed for all its lines."],
    ]
    document = load(tmp_path, "board.pdf", pdf(pages))
    headings = [t for k, t in kinds(document) if k == "heading"]
    assert headings == ["Chapter 4", "Wiring", "Appendix B", "Bus Timing, version 2.1"]
    assert answers(document)[1] == (
        "Each line is sampled once for every cycle of the bus clock of the board."
    )
    assert document.blocks[-1].section == "Bus Timing, version 2.1"


def test_pdf_without_title_metadata_is_not_titled_by_a_cut_sentence(tmp_path: Path) -> None:
    lines = [
        "This report describes how the survey of the northern coast was planned and",
        "carried out over the summer months by a small team of volunteers.",
    ]
    document = load(tmp_path, "survey.pdf", pdf([lines]))
    assert document.title == "survey"


def test_pdf_title_page_title_set_large_is_the_title_not_its_running_header(tmp_path: Path) -> None:
    """A title page sets the title large, over two lines; later pages repeat it small as their
    running header. The title is the large lines, not the author line below them."""
    from fpdf import FPDF

    writer = FPDF()
    writer.add_page()
    writer.set_font("helvetica", size=24)
    for line in ("Orchard Keeping", "Handbook"):
        writer.cell(0, 12, line, new_x="LMARGIN", new_y="NEXT")
    writer.set_font("helvetica", size=14)
    writer.cell(0, 8, "Prepared by the Valley Growers", new_x="LMARGIN", new_y="NEXT")
    writer.set_font("helvetica", size=11)
    body = [
        ["The first page says pear trees are pruned in the dormant season."],
        ["The second page says apple blossom opens in late spring."],
        ["The third page says the harvest ends before the first frost."],
    ]
    for number, lines in enumerate(body):
        if number:
            writer.add_page()
            writer.set_font("helvetica", size=8)
            writer.cell(0, 8, "Orchard Keeping Handbook", new_x="LMARGIN", new_y="NEXT")
            writer.set_font("helvetica", size=11)
        for line in lines:
            writer.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    document = load(tmp_path, "orchard.pdf", bytes(writer.output()))
    assert document.title == "Orchard Keeping Handbook"
    assert document.furniture == ("Orchard Keeping Handbook",)
    assert "apple blossom opens in late spring." in answers(document)[1]


# --- Word ----------------------------------------------------------------------------------


def test_docx_paragraphs_headings_and_table_rows(tmp_path: Path) -> None:
    import docx

    word = docx.Document()
    word.add_heading("Release checklist", level=1)
    word.add_paragraph("Every release is signed by two maintainers.")
    table = word.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Step", "Owner"
    table.cell(1, 0).text, table.cell(1, 1).text = "Tag the build", "Release lead"
    buffer = io.BytesIO()
    word.save(buffer)
    document = load(tmp_path, "c.docx", buffer.getvalue())
    assert answers(document) == [
        "Every release is signed by two maintainers.",
        "Step: Tag the build · Owner: Release lead",
    ]
    assert ("heading", "Release checklist") in kinds(document)


def test_docx_contents_entries_are_not_prose_and_heading_styles_are_found_by_outline(
    tmp_path: Path,
) -> None:
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def outline(properties: object, level: str) -> None:
        element = OxmlElement("w:outlineLvl")
        element.set(qn("w:val"), level)
        properties.append(element)  # type: ignore[attr-defined]

    word = docx.Document()
    styles = word.styles
    styles.add_style("toc 1", WD_STYLE_TYPE.PARAGRAPH)
    annex = styles.add_style("Annex Title", WD_STYLE_TYPE.PARAGRAPH)
    annex.base_style = styles["Heading 1"]
    house = styles.add_style("House Head", WD_STYLE_TYPE.PARAGRAPH)
    outline(house.element.get_or_add_pPr(), "1")
    word.add_paragraph("1\tSetup\t3", style="toc 1")
    word.add_paragraph("Setup", style="House Head")
    word.add_paragraph("Install the tool before the first run.")
    word.add_paragraph("Annex: Limits", style="Annex Title")
    word.add_paragraph("Each run may take one hour at most.")
    outline(word.add_paragraph("Support").paragraph_format.element.get_or_add_pPr(), "0")
    word.add_paragraph("Write to the help desk.")
    buffer = io.BytesIO()
    word.save(buffer)
    document = load(tmp_path, "guide.docx", buffer.getvalue())
    assert kinds(document)[0] == ("furniture", "1 Setup 3")
    assert [t for k, t in kinds(document) if k == "heading"] == [
        "Setup",
        "Annex: Limits",
        "Support",
    ]
    assert answers(document) == [
        "Install the tool before the first run.",
        "Each run may take one hour at most.",
        "Write to the help desk.",
    ]


def test_docx_equal_neighbouring_cells_both_stay_and_a_merged_cell_is_read_once(
    tmp_path: Path,
) -> None:
    import docx

    word = docx.Document()
    table = word.add_table(rows=3, cols=4)
    for column, text in enumerate(["Item", "Shelf A", "Shelf B", "Shelf C"]):
        table.cell(0, column).text = text
    for column, text in enumerate(["Bolts", "12", "0", "0"]):
        table.cell(1, column).text = text
    table.cell(2, 0).text, table.cell(2, 3).text = "Nails", "3"
    table.cell(2, 1).merge(table.cell(2, 2)).text = "sold out"
    buffer = io.BytesIO()
    word.save(buffer)
    document = load(tmp_path, "t.docx", buffer.getvalue())
    assert answers(document) == [
        "Item: Bolts · Shelf A: 12 · Shelf B: 0 · Shelf C: 0",
        "Item: Nails · Shelf A: sold out · Shelf C: 3",
    ]


def test_csv_rows_pair_headers_with_cells(tmp_path: Path) -> None:
    document = load(tmp_path, "t.csv", "city,population\nOslo,709000\nBergen,291000\n")
    assert answers(document) == [
        "city: Oslo · population: 709000",
        "city: Bergen · population: 291000",
    ]


# --- corpus rules --------------------------------------------------------------------------


def test_a_link_out_of_the_corpus_is_skipped_and_a_link_inside_is_read(tmp_path: Path) -> None:
    outside = write(tmp_path / "secret" / "passwd.txt", "daemon:x:1:1:daemon:/usr/sbin")
    corpus = tmp_path / "corpus"
    write(corpus / "real.txt", "Real text.")
    (corpus / "passwd.txt").symlink_to(outside)
    (corpus / "alias.txt").symlink_to(corpus / "real.txt")
    documents, skipped = load_corpus(corpus)
    assert sorted(d.source for d in documents) == ["alias.txt", "real.txt"]
    assert [s.source for s in skipped] == ["passwd.txt"]
    assert "outside the corpus folder" in skipped[0].reason


def test_a_file_over_the_size_limit_is_skipped_unless_the_limit_is_raised(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "big.txt", "A sentence of filler text.\n" * 50_000)  # about 1.3 MB
    write(corpus / "small.txt", "Small text.")
    documents, skipped = load_corpus(corpus, max_file_mb=1)
    assert [d.source for d in documents] == ["small.txt"]
    assert [s.source for s in skipped] == ["big.txt"]
    assert "over the 1 MB limit" in skipped[0].reason and "CITEBOT_MAX_FILE_MB" in skipped[0].reason
    documents, skipped = load_corpus(corpus, max_file_mb=2)
    assert len(documents) == 2 and skipped == []


def test_a_broken_pdf_skip_line_holds_pypdf_s_warning_and_nothing_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    _, skipped = load_corpus(corpus)
    assert len(skipped) == 1 and "not a readable PDF" in skipped[0].reason
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


def test_a_stop_after_bracketed_numbers_ends_the_sentence() -> None:
    from retrieval.text.sentences import sentence_spans

    text = "It handled 900 tonnes in October [2][3]. Storms closed the quay (for four days). Then f(x). it"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "It handled 900 tonnes in October [2][3].",
        "Storms closed the quay (for four days).",
        "Then f(x). it",
    ]


# --- PDF tables, columns, endnotes, furniture kept ------------------------------------------


def pdf_with_table() -> bytes:
    """Two pages: prose on page 1; on page 2 a caption, a ruled table (fpdf2's table), a sentence."""
    from fpdf import FPDF

    writer = FPDF()
    writer.set_font("helvetica", size=11)
    writer.add_page()
    writer.multi_cell(0, 6, "The tool reads its settings from a file in the project folder.")
    writer.add_page()
    writer.cell(0, 8, "Table 4: Server settings", new_x="LMARGIN", new_y="NEXT")
    with writer.table() as table:
        for cells in (
            ("Setting", "Default", "Meaning"),
            ("port", "5173", "Port the server listens on"),
            ("strictPort", "false", "Exit when the port is taken"),
        ):
            row = table.row()
            for cell in cells:
                row.cell(cell)
    writer.multi_cell(0, 6, "The settings above apply to the development server only.")
    return bytes(writer.output())


def test_pdf_table_rows_pair_headers_with_cells_on_their_page(tmp_path: Path) -> None:
    document = load(tmp_path, "t.pdf", pdf_with_table())
    rows = [text for kind, text in kinds(document) if kind == "table_row"]
    assert rows == [
        "Setting: port · Default: 5173 · Meaning: Port the server listens on",
        "Setting: strictPort · Default: false · Meaning: Exit when the port is taken",
    ]
    # The cells are not read a second time, across, as prose.
    assert document.text.count("Port the server listens on") == 1
    row_blocks = [b for b in document.blocks if b.kind == "table_row"]
    assert {b.section for b in row_blocks} == {"Table 4: Server settings"}
    chunks = chunk_document(document, get_encoding(CHUNKING_ENCODING), 250, 50)
    quotes = {}
    for chunk in chunks:
        for start, end in chunk.answer_spans():
            quotes[document.text[start:end]] = chunk.page_of(start, end)
            assert chunk.text[start - chunk.start : end - chunk.start] == document.text[start:end]
    assert quotes[rows[0]] == 2 and quotes[rows[1]] == 2
    assert quotes["The tool reads its settings from a file in the project folder."] == 1


def test_two_column_pdf_reads_each_column_down(tmp_path: Path) -> None:
    from fpdf import FPDF

    left = [
        "The northern station records the",
        "wind speed every ten minutes and",
        "sends the readings to the archive.",
    ]
    right = [
        "The southern station measures the",
        "rainfall once an hour and keeps",
        "its own log on a memory card.",
    ]
    writer = FPDF()
    writer.set_font("helvetica", size=10)
    writer.add_page()
    for x, lines in ((10, left), (110, right)):
        for i, line in enumerate(lines):
            writer.text(x, 30 + 6 * i, line)
    document = load(tmp_path, "columns.pdf", bytes(writer.output()))
    sentences = answers(document)
    assert " ".join(left) in sentences and " ".join(right) in sentences


def test_two_column_pdf_drawn_line_by_line_across_reads_each_column_down(tmp_path: Path) -> None:
    """The columns' lines are drawn alternately, left then right on each baseline (as some PDF
    writers do); the page comes after a page of prose, so its page number is checked too."""
    from fpdf import FPDF

    left = [
        "The northern station records the",
        "wind speed every ten minutes and",
        "sends the readings to the archive",
        "over a radio link that was set up",
        "by the coast guard in the spring.",
    ]
    right = [
        "The southern station measures the",
        "rainfall once an hour and keeps",
        "its own log on a memory card that",
        "a ranger collects by hand on the",
        "first working day of every month.",
    ]
    writer = FPDF()
    writer.set_font("helvetica", size=11)
    writer.add_page()
    writer.multi_cell(0, 6, "The coast has two weather stations that are run by volunteers.")
    writer.add_page()
    writer.set_font("helvetica", size=16)
    writer.text(10, 15, "Weather Stations")
    writer.set_font("helvetica", size=10)
    for i, (left_line, right_line) in enumerate(zip(left, right, strict=True)):
        writer.text(10, 30 + 6 * i, left_line)
        writer.text(110, 30 + 6 * i, right_line)
    writer.text(10, 70, "A line that runs across the whole page below both columns ends the page.")
    document = load(tmp_path, "columns.pdf", bytes(writer.output()))
    sentences = answers(document)
    assert " ".join(left) in sentences and " ".join(right) in sentences
    assert "A line that runs across the whole page below both columns ends the page." in sentences
    assert ("heading", "Weather Stations") in kinds(document)
    chunks = chunk_document(document, get_encoding(CHUNKING_ENCODING), 250, 50)
    pages = {}
    for chunk in chunks:
        for start, end in chunk.answer_spans():
            assert chunk.text[start - chunk.start : end - chunk.start] == document.text[start:end]
            pages[document.text[start:end]] = chunk.page_of(start, end)
    assert pages[" ".join(left)] == 2 and pages[" ".join(right)] == 2
    assert pages["The coast has two weather stations that are run by volunteers."] == 1


def test_three_column_pdf_drawn_line_by_line_reads_each_column_down(tmp_path: Path) -> None:
    from fpdf import FPDF

    columns = [
        ["The first column says that", "the ferry leaves the pier at", "nine each morning and comes", "back from the island by six", "in the evening all summer."],
        ["The second column says the", "museum opens its doors at", "ten and closes them again at", "four except on the days when", "the harbour has a festival."],
        ["The third column says that", "the bakery on the square sells", "bread until noon and then", "shuts for a long lunch that", "lasts until the late bus."],
    ]  # fmt: skip
    writer = FPDF()
    writer.set_font("helvetica", size=9)
    writer.add_page()
    for i in range(5):
        for x, lines in zip((10, 75, 140), columns, strict=True):
            writer.text(x, 30 + 5 * i, lines[i])
    document = load(tmp_path, "three.pdf", bytes(writer.output()))
    sentences = answers(document)
    for lines in columns:
        assert " ".join(lines) in sentences


def test_pdf_glossary_of_terms_beside_definitions_stays_row_by_row(tmp_path: Path) -> None:
    """Short terms beside long definitions are a table, not two columns of prose."""
    from fpdf import FPDF

    rows = [
        ("Ferry", "the boat that crosses to the island twice a day."),
        ("Pier", "the wooden walkway where the ferry ties up at night."),
        ("Quay", "the stone wall that the fishing boats unload against."),
        ("Slipway", "the ramp that boats are hauled up for their repairs."),
        ("Buoy", "a float that marks the channel for boats coming in."),
    ]
    writer = FPDF()
    writer.set_font("helvetica", size=10)
    writer.add_page()
    for i, (term, definition) in enumerate(rows):
        writer.text(10, 30 + 6 * i, term)
        writer.text(60, 30 + 6 * i, definition)
    document = load(tmp_path, "glossary.pdf", bytes(writer.output()))
    for term, definition in rows:
        assert f"{term} {definition}" in document.text


def test_pdf_text_drawn_out_of_order_is_read_top_down(tmp_path: Path) -> None:
    """A page that draws its section banner (lower on the page) before the text at its top that
    carries on the sentence from the page before: the sentence is read whole across the break."""
    from fpdf import FPDF

    writer = FPDF()
    writer.set_font("helvetica", size=11)
    writer.add_page()
    writer.text(10, 280, "For example, the harbour master keeps the spare keys")
    writer.add_page()
    writer.set_font("helvetica", size=14)
    writer.text(10, 60, "The Quay Works")
    writer.set_font("helvetica", size=11)
    writer.text(10, 70, "The quay was rebuilt in stone after the great storm of the winter.")
    writer.text(10, 20, "in a locked box beside the lighthouse door.")
    document = load(tmp_path, "order.pdf", bytes(writer.output()))
    sentences = answers(document)
    whole = "For example, the harbour master keeps the spare keys in a locked box beside the lighthouse door."
    assert whole in sentences
    assert [text for kind, text in kinds(document) if kind == "heading"] == ["The Quay Works"]
    start = document.text.index(whole)
    assert (
        document.page_at(start) == 1 and document.page_at(document.text.index("in a locked")) == 2
    )
    assert document.text.index("The Quay Works") > start


def test_endnote_digits_are_dropped_and_quotes_still_verify(tmp_path: Path) -> None:
    lines = [
        "Analysts expect spending of about 80 billion by 2026.1 The survey was repeated",
        "in the spring and found the same share of users.12 Both results held.",
    ]
    document = load(tmp_path, "notes.pdf", pdf([lines]))
    sentences = answers(document)
    assert "Analysts expect spending of about 80 billion by 2026." in sentences
    assert "The survey was repeated in the spring and found the same share of users." in sentences
    assert "2026.1" not in document.text and "users.12" not in document.text
    for start, end in answer_sentences(document):
        assert (
            document.page_at(start) == 1
            and document.text[start:end].strip() == document.text[start:end]
        )


def test_running_headers_are_kept_once_as_document_metadata(tmp_path: Path) -> None:
    pages = [
        ["The first page opens the report with a long line of text."],
        ["The second page says the river rose by four metres in spring."],
        ["The third page says the bridge reopened in late autumn."],
    ]
    document = load(tmp_path, "r.pdf", pdf(pages, header="Field Report 2030", numbers=True))
    assert document.furniture == ("Field Report 2030",)
    chunks = chunk_document(document, get_encoding(CHUNKING_ENCODING), 250, 50)
    assert chunks[0].furniture == ("Field Report 2030",)
    assert all(not chunk.furniture for chunk in chunks[1:])
    rebuilt = type(chunks[0]).from_metadata(
        chunks[0].chunk_id, chunks[0].text, chunks[0].metadata()
    )
    assert rebuilt.furniture == ("Field Report 2030",)


def test_pdf_lines_in_a_heading_type_are_headings_in_sentence_case(tmp_path: Path) -> None:
    """Headings set larger than the body may be in sentence case and hold numbers ("2.1 The
    ASN.1 parser"), and one wrapped onto a second line in the same type is one heading."""
    from fpdf import FPDF

    writer = FPDF()
    writer.add_page()
    rows = [
        (14, "2.1 Reading ASN.1 modules"),
        (11, "The parser reads one module per file and reports the first syntax error."),
        (11, "It stops at the first error it meets."),
        (14, "2.2 Writing the encoded values of every field to"),
        (14, "a file of your choice"),
        (11, "The encoder writes the values in the order the module declares them."),
        (14, "3. Keeping the log"),
        (11, "The log keeps one line per module it reads."),
    ]
    for size, line in rows:
        writer.set_font("helvetica", size=size)
        writer.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    document = load(tmp_path, "asn.pdf", bytes(writer.output()))
    headings = [text for kind, text in kinds(document) if kind == "heading"]
    assert "2.1 Reading ASN.1 modules" in headings
    assert "2.2 Writing the encoded values of every field to a file of your choice" in headings
    assert "3. Keeping the log" in headings  # numbered like a list item, set as a heading
    start = document.text.index("The encoder writes")
    block = next(b for b in document.blocks if b.start <= start < b.end)
    assert block.section == headings[1]


def test_chapter_running_headers_with_page_numbers_are_furniture(tmp_path: Path) -> None:
    """A manual heads each page with its chapter and page number ("Chapter 2: Pruning 5"): each
    chapter's header is on too few pages to count as repeated, but its number advances with the
    page, so it is a running line and sentences run on across it."""
    from fpdf import FPDF

    chapters = {
        2: "Planting",
        3: "Planting",
        4: "Pruning",
        5: "Pruning",
        6: "Harvest",
        7: "Harvest",
    }

    class Writer(FPDF):  # type: ignore[misc]
        def header(self) -> None:
            if self.page_no() in chapters:
                self.set_font("helvetica", size=8)
                number = 1 + list(chapters).index(self.page_no()) // 2
                title = f"Chapter {number}: {chapters[self.page_no()]} {self.page_no()}"
                self.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")

    writer = Writer()
    pages = [
        ["This handbook says how a small orchard is kept through the year."],
        ["Young trees are planted in the autumn and the keeper waters them"],
        ["every morning through their first dry season."],
        ["Pruning opens the crown of each tree to the light and the keeper"],
        ["burns the cut wood before the spring rains arrive."],
        ["The harvest starts when the first pears come off their spurs and"],
        ["the keeper stores them in a cool loft until the winter."],
    ]
    for lines in pages:
        writer.add_page()
        writer.set_font("helvetica", size=11)
        for line in lines:
            writer.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    document = load(tmp_path, "orchard.pdf", bytes(writer.output()))
    assert "Chapter" not in document.text
    assert document.furniture == (
        "Chapter 1: Planting 2",
        "Chapter 2: Pruning 4",
        "Chapter 3: Harvest 6",
    )
    assert (
        "Pruning opens the crown of each tree to the light and the keeper burns the cut wood "
        "before the spring rains arrive." in answers(document)
    )


def test_paged_text_keeps_its_running_lines_once(tmp_path: Path) -> None:
    bodies = ["forwards each message", "keeps no state", "drops stale frames", "may be chained"]
    pages = [
        f"RFC 9999            Relay Notes            May 2030\n\nThe relay {body}.\n\nSmith   [Page {n}]\n"
        for n, body in enumerate(bodies, start=1)
    ]
    document = load(tmp_path, "rfc.txt", "\f".join(pages))
    assert document.furniture == ("RFC 9999 Relay Notes May 2030", "Smith [Page 1]")
    assert "[Page" not in document.text


def test_running_lines_with_roman_page_numbers_are_furniture(tmp_path: Path) -> None:
    """Front matter numbers its pages "i", "ii", "iii": a running footer that carries such a
    number is the same line on every page, like one with arabic numbers."""
    from fpdf import FPDF

    class Writer(FPDF):  # type: ignore[misc]
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("helvetica", size=8)
            roman = ["i", "ii", "iii", "iv"][self.page_no() - 1]
            self.cell(0, 10, f"{roman}        Orchard Keeping Handbook")

    bodies = ["prunes the pear trees", "feeds the hens", "mends the fence", "picks the plums"]
    writer = Writer()
    writer.set_font("helvetica", size=11)
    for body in bodies:
        writer.add_page()
        writer.cell(0, 6, f"On this day the keeper {body} before the noon break.")
    document = load(tmp_path, "orchard.pdf", bytes(writer.output()))
    assert "Orchard Keeping" not in document.text
    assert document.furniture == ("i Orchard Keeping Handbook",)
    assert "On this day the keeper feeds the hens before the noon break." in answers(document)


def test_pdf_figure_labels_are_kept_as_lines_not_headings(tmp_path: Path) -> None:
    """A diagram's labels, in a larger font than the body: a row of boxes side by side on one
    baseline (numbers over it), and labels scattered over the figure one per line. They are searchable lines of
    their own, neither headings nor sentences, and the text after the figure stays under the
    section it is in."""
    from fpdf import FPDF

    writer = FPDF()
    writer.add_page()
    writer.set_font("helvetica", size=14)
    writer.text(10, 20, "Water Loop")
    writer.set_font("helvetica", size=11)
    writer.text(10, 30, "The mill moves its water through three parts that are joined by pipes.")
    writer.set_font("helvetica", size=9)
    writer.text(20, 44, "0 40 80")  # numbers over the row, as over a bit-field diagram
    writer.set_font("helvetica", size=12)
    for x, label in ((20, "Pump"), (80, "Valve"), (140, "Tank")):
        writer.text(x, 50, label)
    for x, y, label in ((30, 62, "Inlet"), (120, 68, "Outlet"), (65, 76, "Drain Cock")):
        writer.text(x, y, label)
    writer.set_font("helvetica", size=11)
    writer.text(40, 90, "Figure 2: How the water goes round the mill.")
    writer.text(10, 100, "The pump runs only while the wheel turns.")
    document = load(tmp_path, "mill.pdf", bytes(writer.output()))
    assert [text for kind, text in kinds(document) if kind == "heading"] == ["Water Loop"]
    assert ("code", "0 40 80\nPump Valve Tank\nInlet\nOutlet\nDrain Cock") in kinds(document)
    assert all(block.section == "Water Loop" for block in document.blocks[1:])
    sentences = answers(document)
    assert "The pump runs only while the wheel turns." in sentences
    assert not any("Pump" in sentence or "Inlet" in sentence for sentence in sentences)
    assert_quotes_verify(document)


def test_pdf_contents_entry_with_a_roman_page_number_is_not_a_heading(tmp_path: Path) -> None:
    pages = [
        ["Contents", "Foreword iii", "Sowing The Beds 1"],
        ["The beds are sown in the first warm week of spring, a row at a time."],
    ]
    document = load(tmp_path, "garden.pdf", pdf(pages))
    assert [text for kind, text in kinds(document) if kind == "heading"] == ["Contents"]


def display_label_pdf(label_y: float) -> bytes:
    """Two paragraphs on page 1, the second going on to page 2, and a large label drawn last on
    page 1 at `label_y` (as some layouts draw their chapter labels)."""
    from fpdf import FPDF

    writer = FPDF()
    writer.set_font("helvetica", size=11)
    writer.add_page()
    writer.text(10, 20, "The orchard was planted by the first keeper, who chose old kinds of")
    writer.text(10, 26, "apple that keep well through the winter in a cool and dry loft.")
    writer.text(10, 52, "In the autumn the fruit is picked by hand, sorted on long tables and")
    writer.text(10, 58, "then laid out in rows on slatted shelves, where the keeper checks on")
    writer.add_page()
    writer.text(10, 20, "it once a week until the last of the apples has been sold at market.")
    writer.page = 1  # back to page 1: the label is drawn after the page's text
    writer.set_font("helvetica", size=26)
    writer.text(10, label_y, "HARVEST")
    return bytes(writer.output())


SHELF_SENTENCE = (
    "In the autumn the fruit is picked by hand, sorted on long tables and then laid out in rows"
    " on slatted shelves, where the keeper checks on it once a week until the last of the apples"
    " has been sold at market."
)


def test_pdf_display_label_drawn_last_is_read_in_the_gap_it_stands_in(tmp_path: Path) -> None:
    document = load(tmp_path, "orchard.pdf", display_label_pdf(label_y=40))
    assert [text for kind, text in kinds(document) if kind == "heading"] == ["HARVEST"]
    assert SHELF_SENTENCE in answers(document)
    assert document.text.index("HARVEST") < document.text.index("In the autumn")
    assert document.blocks[-1].section == "HARVEST"
    assert_quotes_verify(document)


def test_pdf_display_label_over_a_paragraph_is_not_glued_into_its_sentence(
    tmp_path: Path,
) -> None:
    """No gap holds the label (it is drawn across two lines of the paragraph): it stays out of
    the sentence, and is neither a heading nor prose."""
    document = load(tmp_path, "orchard.pdf", display_label_pdf(label_y=55))
    assert SHELF_SENTENCE in answers(document)
    assert ("furniture", "HARVEST") in kinds(document)
    assert not any(kind == "heading" for kind, _ in kinds(document))
    assert not any("HARVEST" in sentence for sentence in answers(document))
    assert_quotes_verify(document)
