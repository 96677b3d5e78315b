"""Error records and redaction: classification, sanitizing, the record model, logs. Private.

Modules::

    exceptions       every exception class, the tree drawn in its docstring
    record           NodeError, ErrorCode, ErrorCategory: the JSON-safe record of a failure
    classify         an exception's category, retryability, control flow and Retry-After hint
    sanitize         redacting secrets from messages and trimming stacks
    secret_scan      finding secrets in text: the rules' scanner and the entropy check
    redaction_rules  the secret shapes sanitize_message redacts, as one table
    redact_exc       redacting a live exception and its chain in place (raise mode)
    egress           the one way out: everything that leaves a node towards another party
    items            item_summary: what a record shows of a map-reduce (``Send``) item
    logs             structured node events; failures visible by default
    log_record       the stdlib LogRecord of an event, as makeRecord makes it, made lean
"""
