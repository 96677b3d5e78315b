"""The secret shapes ``sanitize_message`` redacts, as one table.

Provider token shapes are a pinned subset of the ``denylist`` regexes of
detect-secrets 1.5.0 (https://github.com/Yelp/detect-secrets, Apache License 2.0,
``detect_secrets/plugins/*.py``); rules taken from it say so in ``SOURCE`` and are
checked against the installed detect-secrets by the test suite, so an upstream
change shows up as a failing test instead of silent drift. Where detect-secrets
only flags a line (private keys, keyword pairs) the rule here spans the whole
secret so it can be cut out. Rules marked ``gitleaks`` follow the gitleaks 8 rule of
that id (MIT); ``local`` rules cover shapes neither scanner redacts (URL-encoded
pairs, cookies, SAS signatures, bare AWS secret keys).

Each rule is ``(name, triggers, source, regex)``. ``triggers`` make the scan cheap:
a rule runs only on text that contains one of its trigger strings (lower case,
looked for in the lower-cased text), or, for ``"#N"`` (``"%N"``), a run of at
least N base64 (base64url) characters; a trigger must be implied by every match of its rule.
A regex either matches exactly the secret,
or has a leading group named ``keep`` (kept verbatim: the key, the scheme, the
user name) followed by the secret. Rules are joined into one alternation and run
in one pass; earlier rules win where two match at the same place. Flags are
scoped inside each rule (``(?i:...)``) because they share one compiled pattern.
"""

from __future__ import annotations

import re

__all__ = [
    "DETECT_SECRETS_KEY_NAMES",
    "RULES",
    "SECRET_KEYS",
    "SECRET_KEY_NAMES",
    "is_secret_key",
    "normalise_key",
]

# Key names whose value is a secret, as words. A key is secret when, normalised
# (lower case, without "_", "-", "." and spaces: ``normalise_key``), it ends with one
# of these names joined: DB_PASSWORD, PGPASSWORD, accessToken, client-secret,
# secretAccessKey, x-api-key, "api key". In text the words may be joined by one of
# those separators or by nothing, in any case, after any prefix of letters, digits
# and separators.
# Taken from detect-secrets 1.5.0's keyword DENYLIST (each ``_?`` entry split in two
# words; tests/records/test_sanitize.py checks it against the installed package):
DETECT_SECRETS_KEY_NAMES: tuple[tuple[str, ...], ...] = (
    ("api", "key"),
    ("auth", "key"),
    ("service", "key"),
    ("account", "key"),
    ("db", "key"),
    ("database", "key"),
    ("priv", "key"),
    ("private", "key"),
    ("client", "key"),
    ("db", "pass"),
    ("database", "pass"),
    ("key", "pass"),
    ("password",),
    ("passwd",),
    ("pwd",),
    ("secret",),
    ("contraseña",),
    ("contrasena",),
)
# ... extended with the names of tokens, auth headers, cookies and cloud keys.
EXTRA_KEY_NAMES: tuple[tuple[str, ...], ...] = (
    ("passphrase",),
    ("token",),
    ("auth",),
    ("authorization",),
    ("credential",),
    ("credentials",),
    ("cookie",),
    ("sig",),
    ("private", "key", "id"),
    ("secret", "key"),
    ("secret", "access", "key"),
    ("access", "key"),
    ("shared", "access", "key"),
    ("pass",),
    ("signing", "key"),
    ("encryption", "key"),
    ("master", "key"),
    ("session", "id"),
)
SECRET_KEY_WORDS = DETECT_SECRETS_KEY_NAMES + EXTRA_KEY_NAMES
SECRET_KEYS: tuple[str, ...] = tuple(sorted({"".join(w) for w in SECRET_KEY_WORDS}))
"""Every secret key name, normalised (``normalise_key``); a key ending with one is secret."""

_KEY_DROP = str.maketrans("", "", "_-. ")


def normalise_key(key: str) -> str:
    """``key`` in lower case without ``_``, ``-``, ``.`` and spaces.

    ``accessToken``, ``access-token`` and ``ACCESS_TOKEN`` all give ``accesstoken``.
    """
    return key.lower().translate(_KEY_DROP)


def is_secret_key(key: object) -> bool:
    """Whether a mapping key (``str`` or ``bytes``) names a secret (``SECRET_KEYS``)."""
    if isinstance(key, (bytes, bytearray)):
        key = bytes(key).decode("utf-8", "replace")
    if not isinstance(key, str) or len(key) > 200:
        return False
    return normalise_key(key).endswith(SECRET_KEYS)


# The names as one regex for text: words joined by an optional separator, written as a
# trie (names sharing a start share its branch: "pass(?:word|wd|phrase)?..."), so each
# place in the text is tried against a few characters, not against every name in turn
# (five times faster on a 1 kB message with a key in it). Longer names are tried first.
_SEP = "[_.\\- ]?"


def _name_trie(names: list[list[str]]) -> str:
    branches: dict[str, list[list[str]]] = {}
    ends = False
    for name in names:
        if name:
            branches.setdefault(name[0], []).append(name[1:])
        else:
            ends = True
    parts = []
    for atom in sorted(branches, key=lambda a: (a == _SEP, a)):
        rest = _name_trie(branches[atom])
        head = atom if atom == _SEP else re.escape(atom)
        parts.append(head + (f"(?:{rest})" if "|" in rest or rest.endswith("?") else rest))
    alternation = "|".join(parts)
    return f"(?:{alternation})?" if ends and alternation else alternation


def _atoms(words: tuple[str, ...]) -> list[str]:
    atoms: list[str] = []
    for i, word in enumerate(words):
        atoms.extend(([_SEP] if i else []) + list(word))
    return atoms


SECRET_KEY_NAMES = _name_trie([_atoms(words) for words in SECRET_KEY_WORDS])

# A value: quoted (may hold spaces and escaped quotes; a bytes repr b'...' too) or
# bare up to a separator.
_VALUE = (
    r"(?:[bB]?\"(?:[^\"\\\n]|\\[^\n])*\"|[bB]?'(?:[^'\\\n]|\\[^\n])*'|\\\"(?:(?!\\\")[^\n])*\\\""
    # a quoted value running over lines (closed within 1,000 characters), or never
    # closed: up to the end of the line
    r"|[bB]?\"(?:[^\"\\]|\\[\s\S]){1,1000}\"|[bB]?'(?:[^'\\]|\\[\s\S]){1,1000}'"
    r"|[bB]?[\"'][^\r\n]+"
    r"|[^\s,;&)}\]\"'\\]+)"
)

RULES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    # --- private keys: the whole block, header to footer (or to the end of the text,
    # when the message was cut or the footer is missing).
    (
        "pem-private-key",
        ("-----begin",),
        "detect-secrets private_key (spanned)",
        r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:(?!-----END)[\s\S])*(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    (
        "ssh2-encrypted-private-key",
        ("---- begin",),
        "detect-secrets private_key (spanned)",
        r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----"
        r"(?:(?!---- END)[\s\S])*(?:---- END SSH2 ENCRYPTED PRIVATE KEY ----|\Z)",
    ),
    (
        "putty-private-key",
        ("putty-user-key-file",),
        "detect-secrets private_key (spanned)",
        r"PuTTY-User-Key-File-\d[\s\S]*?(?:Private-MAC: *[0-9a-fA-F]+|\Z)",
    ),
    # --- credentials inside URLs and headers
    (
        "url-userinfo-password",
        ("://",),
        "detect-secrets basic_auth",
        # scheme://user:password@host: keep the user. The lookbehind starts a scheme
        # only where a run of scheme characters starts (a mere \b made "a.a.a..."
        # quadratic); the password may hold "@" (up to the last one).
        # "/", "?" and "#" too (unencoded), unless what follows the colon is a port
        # and a path ("http://host:8080/a@b" has no password).
        r"(?P<keep>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)"
        r"(?!\d{1,5}(?:[/?#]|$))[^\s\"'<>]+(?=@)",
    ),
    (
        "url-query-secret",
        (
            "sig=",
            "signature=",
            "x-amz-",
            "x-goog-",
            "code=",
            "key=",
            "token=",
            "secret=",
            "password=",
        ),
        "local (Azure SAS sig=, presigned S3/GCS URLs, OAuth codes)",
        r"(?P<keep>[?&;](?i:sig|signature|x-amz-signature|x-amz-security-token|"
        r"x-amz-credential|x-goog-signature|x-goog-credential|code|key|access_token|"
        r"token|api_key|apikey|client_secret|password)=)[^&\s#\"'<>]+",
    ),
    (
        "cookie-header",
        ("cookie",),
        "local",
        r"(?P<keep>(?i:\b(?:set-)?cookie)[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\s\"'][^\r\n\"']*",
    ),
    (
        "authorization-header",
        ("authorization",),
        "local",
        r"(?P<keep>(?i:\b(?:proxy-)?authorization)\b\\?[\"']?\s*[:=]\s*\\?[\"']?)"
        r"(?i:(?:bearer|basic|token|digest|negotiate|ntlm|bot|apikey|api-key|key|sso-key)\s+)?"
        r"(?!\[REDACTED\])[^\s\"',;\\]+",
    ),
    (
        "bearer-or-basic",
        ("bearer", "basic"),
        "local",
        # The credentials must look like one (a digit, "+/=_~", or an upper-case letter
        # after the first), so "a basic configuration problem" stays readable.
        r"(?P<keep>\b(?i:bearer|basic)\s+)"
        r"(?=[A-Za-z0-9._~+/=-]*[0-9+/=_~]|[A-Za-z0-9._~+/=-]+[A-Z])[A-Za-z0-9._~+/=-]{8,}",
    ),
    (
        "bearer-long",
        ("bearer",),
        "local",
        # Any 16 token characters after "bearer", in any case, letters only too.
        r"(?P<keep>\b(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{16,}",
    ),
    (
        "redis-auth",
        ("auth ",),
        "local (redis-py quotes the AUTH command: 'Command # 1 (AUTH default pw)')",
        # The password, and the user name before it when there is one.
        r"(?P<keep>\bAUTH +)(?!\[REDACTED\]|<)[^\s)'\"\],]+(?: +[^\s)'\"\],]+)?",
    ),
    (
        "aws-sigv4-signature",
        ("signature",),
        "gitleaks-style (SigV4 Authorization header and presigned URLs)",
        r"(?P<keep>\b(?i:signature)[\"']?\s*[=:]\s*[\"']?)[A-Za-z0-9+/_%-]{16,}={0,2}",
    ),
    (
        "azure-shared-access-signature",
        ("sharedaccesssignature",),
        "local (Azure Service Bus / Event Hubs SAS token)",
        r"(?P<keep>\bSharedAccessSignature"
        r"(?:[ \t]*[=:][ \t]*(?:SharedAccessSignature[ \t]+)?|[ \t]+))"
        r"(?!\[REDACTED\]|SharedAccessSignature[ \t])[^\s;\"'<>]+",
    ),
    # --- provider token shapes (detect-secrets denylists unless noted)
    (
        "jwt",
        ("eyj",),
        "detect-secrets jwt",
        r"\beyJ[A-Za-z0-9_=-]{4,}\.[A-Za-z0-9_=-]{4,}\.?[A-Za-z0-9_.+/=-]*",
    ),
    (
        "openai-or-anthropic-key",
        ("sk-",),
        "detect-secrets openai (widened)",
        r"\bsk-[A-Za-z0-9_-]{12,}",
    ),
    (
        "aws-access-key-id",
        ("a3t", "abia", "acca", "akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
        "detect-secrets aws",
        r"\b(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
    ),
    (
        "aws-secret-access-key",
        ("#40",),
        "local (bare 40-char key; detect-secrets aws needs an aws_... keyword)",
        # Mixed case and a digit: a lowercase hex git SHA-1 is not a key.
        r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
        r"(?=[A-Za-z0-9/+]{0,39}[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
    ),
    (
        "azure-storage-account-key",
        ("accountkey=", "sharedaccesskey="),
        "detect-secrets azure_storage_key",
        r"(?P<keep>(?i:AccountKey|SharedAccessKey)=)[a-zA-Z0-9+/=]{20,}",
    ),
    (
        "azure-ad-client-secret",
        ("q~",),
        "gitleaks azure-ad-client-secret",
        r"(?<![a-zA-Z0-9_~.-])[a-zA-Z0-9_~.-]{3}\dQ~[a-zA-Z0-9_~.-]{31,34}(?![a-zA-Z0-9_~.-])",
    ),
    (
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        "detect-secrets github_token",
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{20,}",
    ),
    (
        "github-fine-grained-pat",
        ("github_pat_",),
        "gitleaks github-fine-grained-pat",
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    ),
    (
        "gitlab-token",
        (
            "glpat-",
            "gldt-",
            "glft-",
            "glsoat-",
            "glrt-",
            "gr1348941",
            "glcbt-",
            "glimt-",
            "glptt-",
            "glagent-",
            "gloas-",
        ),
        "detect-secrets gitlab_token",
        r"\b(?:(?:glpat|gldt|glft|glsoat|glrt)-[A-Za-z0-9_-]{20,50}(?![\w-])"
        r"|GR1348941[A-Za-z0-9_-]{20,50}(?![\w-])"
        r"|glcbt-(?:[0-9a-fA-F]{2}_)?[A-Za-z0-9_-]{20,50}(?![\w-])"
        r"|glimt-[A-Za-z0-9_-]{25}|glptt-[A-Za-z0-9_-]{40}"
        r"|glagent-[A-Za-z0-9_-]{50,1024}|gloas-[A-Za-z0-9_-]{64})",
    ),
    ("slack-token", ("xox",), "detect-secrets slack", r"\b(?i:xox[aboprs]-[A-Za-z0-9-]{10,})"),
    (
        "slack-webhook",
        ("hooks.slack.com",),
        "detect-secrets slack",
        r"https://hooks\.slack\.com/services/T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+",
    ),
    (
        "stripe-key",
        ("_live_", "_test_"),
        "detect-secrets stripe (widened to test and publishable keys)",
        r"\b(?:sk|rk|pk)_(?:live|test)_[0-9a-zA-Z]{10,}",
    ),
    ("google-api-key", ("aiza",), "gitleaks gcp-api-key", r"\bAIza[0-9A-Za-z_-]{30,}"),
    (
        "google-oauth-token",
        ("ya29.",),
        "gitleaks gcp-oauth-access-token",
        r"\bya29\.[0-9A-Za-z_-]{20,}",
    ),
    (
        "google-oauth-client-secret",
        ("gocspx-",),
        "gitleaks gcp-client-secret",
        r"\bGOCSPX-[0-9A-Za-z_-]{20,}",
    ),
    (
        "webhook-signing-secret",
        ("whsec_",),
        "gitleaks-style (Stripe, Svix and Standard Webhooks signing secrets)",
        r"\bwhsec_[A-Za-z0-9+/=_-]{16,}",
    ),
    (
        "pem-body",
        ("mii", "mhccaqee", "mc4caqaw"),
        "local (a PEM body without its header: base64 DER of a key, 'MII...')",
        # Base64 DER starting like a key or certificate (a SEQUENCE: MII.., MHcCAQEE
        # for a P-256 key, MC4CAQAw for Ed25519), with its following base64 lines.
        r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]|MHcCAQEE|MC4CAQAw)[A-Za-z0-9+/]{20,}={0,2}"
        r"(?:(?:\\n|\r?\n)[A-Za-z0-9+/]{16,}={0,2})*",
    ),
    ("huggingface-token", ("hf_",), "gitleaks huggingface-access-token", r"\bhf_[A-Za-z0-9]{20,}"),
    (
        "sendgrid-key",
        ("sg.",),
        "detect-secrets sendgrid",
        r"\bSG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}",
    ),
    ("twilio-key", ("#34",), "detect-secrets twilio", r"\b(?:AC|SK)[a-z0-9]{32}\b"),
    (
        "discord-bot-token",
        ("%24",),
        "detect-secrets discord",
        r"\b[MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}",
    ),
    (
        "telegram-bot-token",
        ("%35",),
        "detect-secrets telegram_token",
        r"\b\d{8,10}:[0-9A-Za-z_-]{35}\b",
    ),
    ("mailchimp-key", ("-us",), "detect-secrets mailchimp", r"\b[0-9a-z]{32}-us[0-9]{1,2}\b"),
    ("npm-token", ("npm_",), "gitleaks npm-access-token", r"\bnpm_[A-Za-z0-9]{36}"),
    ("pypi-token", ("pypi-",), "detect-secrets pypi_token", r"\bpypi-AgE[A-Za-z0-9_-]{70,}"),
    (
        "square-oauth-secret",
        ("sq0csp-",),
        "detect-secrets square_oauth",
        r"\bsq0csp-[0-9A-Za-z_-]{43}",
    ),
    ("artifactory-token", ("akc",), "detect-secrets artifactory", r"\bAKC[a-zA-Z0-9]{10,}"),
    # --- key=value pairs last: the specific shapes above keep their own text.
    (
        "secret-pair",
        (
            "pass",
            "pwd",
            "secret",
            "token",
            "key",
            "auth",
            "credential",
            "session",
            "sig",
            "contrase",
            "cookie",
        ),
        "detect-secrets keyword (spanned)",
        # key=value, key: value, "key": "value", ("key", "value"), JSON-escaped and
        # URL-encoded (%3D, %3A). The key starts where a run of key characters starts
        # (one start per run: no quadratic scan), or after a %XX escape.
        rf"(?P<keep>\\?[\"']?(?:(?<![A-Za-z0-9_.-])|(?<=%[0-9A-Fa-f]{{2}}))"
        rf"(?i:[A-Za-z0-9_.-]*?(?:{SECRET_KEY_NAMES}))"
        r"(?:\\?[\"']?\s*(?:[:=]|%3[dDaA]|%253[dDaA])|[\"']\s*,)\s*)(?!\[REDACTED\])" + _VALUE,
    ),
)
