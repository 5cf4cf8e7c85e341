"""The command-line commands: the mascot, ``--self-test`` (``speak``, ``say``, ``ask``)."""
