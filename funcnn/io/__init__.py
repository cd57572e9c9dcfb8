"""Files: the only library code that writes them (data loaders aside).

Layered; each module uses only those above it in this list:

* :mod:`funcnn.io.atomic`: the one atomic writer (temp file, fsync, ``os.replace``, folder fsync);
* :mod:`funcnn.io.layout`: the names of a run folder's files, and the one epoch-file pattern;
* :mod:`funcnn.io.container`: the ``.npz`` + JSON manifest container (member names, SHA-256,
  bounded reads);
* :mod:`funcnn.io.codec`: values (specs, keys, trees, records) to manifest nodes and arrays, and back;
* :mod:`funcnn.io.checks`: checks of a decoded value against its model (param templates from shape
  inference, a training state's counters), each returning the list of problems found;
* :mod:`funcnn.io.checkpoint`: the public checkpoint API (:func:`save`, :func:`load`, ...);
* :mod:`funcnn.io.runs`: run folders (:func:`save_every`, :func:`open_run`, the preprocessing
  file, JSON files).

The public names are re-exported by :mod:`funcnn`; this package imports nothing
eagerly, so that :mod:`funcnn.datasets` can use the atomic writer.
"""
