"""What the runs service does without a request: run-end webhooks and cron schedules. Private.

Both run on a ``Ticker`` (a background thread per process) and keep their state in the
queue's database, so any number of service processes share them: a webhook is delivered
at least once, a schedule's tick fires exactly one run.

Modules::

    ticker         Ticker: a background thread making one pass every interval
    outbox         the webhook outbox: a row per run with a webhook, a row per delivery attempt
    webhooks       the webhook dispatcher (signed, retried, at least once), GET /runs/{id}/webhooks
    schedule_store the schedules table: a tick claimed once, next_run_at moved by compare-and-set
    schedules      /schedules routes and the scheduler thread firing each due tick as one run
"""
