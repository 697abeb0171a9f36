"""URLs fit for logs, reports and tags: no credentials in them.

Tracking URIs, git remotes and S3 endpoints can carry a user and password
(`https://user:token@host`) or a token in the query (`?token=...`); mlgate shows
them only through `without_credentials`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that hold a secret in the URLs teams use (MLflow behind a proxy,
# presigned S3 links, tokens in git remotes).
SECRET_QUERY_KEYS = frozenset(
    {
        "token",
        "access_token",
        "auth",
        "password",
        "secret",
        "key",
        "api_key",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
HIDDEN = "***"


def without_credentials(url: str) -> str:
    """`url` with any user:password removed and secret query values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN  # not a URL we can take apart: show nothing rather than a secret
    netloc = parts.netloc.rpartition("@")[2]  # the last @ ends the userinfo
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret = any(key.lower() in SECRET_QUERY_KEYS for key, _ in pairs)
    if netloc == parts.netloc and not secret:
        return url  # as written: urlunsplit would also drop the `//` of sqlite:////path
    if secret:
        pairs = [(k, HIDDEN if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
    query = urlencode(pairs, safe="*") if secret else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
