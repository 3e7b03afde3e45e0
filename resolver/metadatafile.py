"""The part of a core metadata file (METADATA, PKG-INFO) that holds its fields.

Apart from coremeta.py, which parses the fields for the solver with ``packaging.metadata``,
so that a sync, which reads the METADATA of wheels and of installed packages with the
email parser alone, does not import ``packaging.metadata`` (a tenth of its imports).
"""

from __future__ import annotations


def header_block(data: bytes) -> bytes:
    """The header fields of a metadata file, without the body after its first blank line.

    The body is the long description (most of a wheel's METADATA: a whole README), where no
    field anyone reads can be, and the email parser's line-by-line pass over it was most of
    reading the file (the solver's metadata, a wheel's checks before an install, an
    environment's installed packages). Cut only at a plain ``\\n\\n``: a file with a ``\\r``
    in its headers (CRLF or old Mac line ends) is parsed whole, as before.
    """
    end = data.find(b"\n\n")
    if end < 0 or b"\r" in data[:end]:
        return data
    return data[:end + 1]
