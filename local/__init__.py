"""Docker-free local runs of the real function: moto's S3 server + the Lambda Runtime Interface
Emulator, configured from template.yaml. Developer tooling only: never part of the Lambda image.

  make invoke EVENT=events/s3-put.json   one event (local/invoke.py)
  make run                               every sample image end to end (local/demo.py)
  make serve                             the API and its page on http://127.0.0.1:3000 (local/api_gateway.py)

Modules: template_config (SAM template -> handler, env, memory, timeout), s3_server (moto),
emulator (the Runtime Interface Emulator), deployment (both together), events, samples, processes.
"""
