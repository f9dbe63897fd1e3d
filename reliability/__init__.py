"""Reliability instruments: what tries to break the service, never part of the Lambda image.

  corpus        the bad-input corpus, generated: JPEG, PNG, WebP, GIF, odd modes, truncations, a bomb, awkward keys
  fault_proxy   an HTTP proxy before the local S3 that throttles, fails, refuses or answers as S3 does on command
  soak          `make soak N=1000`: N mixed objects through S3 -> SQS -> the worker, reconciled
  fuzz_decode   `make fuzz`: coverage-guided fuzzing (atheris) of the decode path, seeded by the corpus
  memory        `make memory`: the worker's peak RSS per option and input size, beside the engine's estimate
  findings      `python -m reliability.findings`: the subject findings' thresholds scored on the validation photos

They drive the local stand-ins of local/ (S3 server, emulator, queue trigger); local/ never imports them.
"""
