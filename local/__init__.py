"""Docker-free local runs of the real function: moto's S3 server + the Lambda Runtime Interface
Emulator, configured from template.yaml. Developer tooling only: never part of the Lambda image.

  make invoke EVENT=events/s3-put.json   one event (invoke.py)
  make run                               every sample image end to end (demo.py)
  make serve                             the API and its page on http://127.0.0.1:3000 (api_gateway.py)

Local AWS stand-ins:
  s3_server        moto's S3 server on 127.0.0.1, and boto3 clients for it (the one way to start one)
  emulator         a function under the Runtime Interface Emulator, configured as SAM would
  deployment       both together: the template's buckets and functions on one machine
  queue_trigger    S3 -> SQS -> worker, as Lambda's event source mapping drives it (UseQueue=true)
  api_gateway      API Gateway's REST proxy integration in front of the emulator
Their building blocks: template_config (SAM template -> handler, environment, memory, timeout),
events (S3 events for given objects), samples (the bundled photos as objects), processes (child
processes and HTTP servers that never outlive their owner), browser (headless Chromium on the page).

The reliability instruments that use them (bad-input corpus, fault proxy, soak, fuzzer) are in reliability/.
"""
