"""AWS adapters around the engine. No pixels here: events in, `engine.remove_background` called,
results stored in S3 or returned over HTTP.

Entry points (stable names: template.yaml, infra/Dockerfile and the local-run tooling use them):

  handler.s3_entry.lambda_handler   S3 notifications, S3 -> SQS messages (partial batch failure),
                                    EventBridge "Object Created" events, S3 Batch Operations jobs
  handler.api_entry.lambda_handler  API Gateway REST proxy: GET / (page), POST /remove, POST /uploads

Reading order: s3_entry.py / api_entry.py -> worker.py (one object) -> settings.py (environment,
read once at cold start) -> engine (pixels) -> engine's model session. Around them: sources.py
(which objects an event names), keys.py (output / failure / upload keys), storage.py (boto3 S3
calls), observability.py (Powertools Logger, Tracer, Metrics). Environment variables are listed
in `settings.HandlerSettings`; sample events for every entry point are in events/.
"""
