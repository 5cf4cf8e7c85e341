# SPDX-License-Identifier: GPL-3.0-or-later
"""Character packs: who lives on the screen.

A pack is a folder (or a ``.zip``) with a manifest, ``character.toml``, and the art as SVG or
PNG layers (``docs/characters.md`` is the format). The built-in mascot is the first pack
(``resources/characters/companion``); the user's own live in ``paths.data_dir()/characters``.

- :mod:`~companion.characters.manifest`: ``character.toml`` read with ``tomllib`` and checked;
- :mod:`~companion.characters.layers`: which layers a pack must have;
- :mod:`~companion.characters.mouths`: the one table between the Oculus-15 visemes and the
  Rhubarb shapes A-H, X;
- :mod:`~companion.characters.source`: reading a folder or a zip within the limits (bytes,
  files, no path outside the pack);
- :mod:`~companion.characters.loader`: every layer parsed and checked (pixels, broken SVG);
- :mod:`~companion.characters.store`: listing, installing and removing packs;
- :mod:`~companion.characters.prefs`: the voice and speed each character speaks with.

A bad pack raises :class:`~companion.characters.manifest.PackError`, whose message is the one
line shown to the user; nothing is changed by a pack that fails.
"""
