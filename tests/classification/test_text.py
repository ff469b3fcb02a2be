from pipeline.classification.text import normalise


def test_handles_links_entities_and_space_are_normalised() -> None:
    got = normalise("@AcmeCustServ  it's &amp; broken\nhttps://t.co/x1 see www.acme.com/y")
    assert got == "@user it's & broken http see http"


def test_email_is_not_a_handle() -> None:
    assert normalise("mail bob@acme.com") == "mail bob@acme.com"
