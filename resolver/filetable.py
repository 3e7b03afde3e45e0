"""A project's files from an index page, as columns, each ``DistFile`` made on first use."""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from satlock.resolver.candidates import DistFile


class FileTable:
    """A project's files as the columns the candidate listing reads (file name, link,
    yanked, Requires-Python), each ``DistFile`` made only when first asked for.

    A page lists tens of thousands of files and a target keeps about a third of them:
    making a ``DistFile`` for every one cost more than checking it. A table only defers
    making objects: whoever makes one has checked every file on the page first, so a bad
    entry is the same error whichever files are ever asked for.
    """

    __slots__ = ("filenames", "urls", "yanked", "requires_python", "_make", "_made")

    def __init__(self, filenames: list[str], urls: list[str], yanked: list[str | None],
                 requires_python: list[str | None], make: Callable[[int], DistFile]) -> None:
        self.filenames = filenames
        self.urls = urls
        self.yanked = yanked
        self.requires_python = requires_python
        self._make = make
        self._made: list[DistFile | None] = [None] * len(filenames)

    @classmethod
    def of(cls, files: Sequence[DistFile]) -> FileTable:
        """A table of files already made (a careful or HTML page parse, find-links)."""
        made = list(files)
        table = cls([f.filename for f in made], [f.url for f in made], [f.yanked for f in made],
                    [f.requires_python for f in made], made.__getitem__)
        table._made = list(made)
        return table

    def file(self, i: int) -> DistFile:
        """The ``i``-th file, made once (two threads may both make it: equal fields, no harm)."""
        made = self._made[i]
        if made is None:
            made = self._made[i] = self._make(i)
        return made

    def files(self) -> list[DistFile]:
        return [self.file(i) for i in range(len(self.filenames))]

    def __len__(self) -> int:
        return len(self.filenames)

    def __iter__(self) -> Iterator[DistFile]:
        return iter(self.files())
