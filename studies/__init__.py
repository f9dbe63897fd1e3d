"""One-off studies: questions asked once (how soft may the edges get, does a second pass pay, is this
refinement better than main's), answered on the benchmark's data and measures; not part of `python -m bench`."""
