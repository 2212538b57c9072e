"""AWS Signature Version 4 (`authentication: {type: aws-sig-v4}`) for upstream requests.

The signature covers the method, the path, the query, the host, `x-amz-date`, the content type
and the payload hash, as AWS documents it ("Create a signed AWS API request"); it is computed
after every other part of the request is final, so nothing changes what was signed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

_ALGORITHM = "AWS4-HMAC-SHA256"
_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class AwsCredentials:
    access_key: str
    secret_key: str
    region: str
    service: str
    session_token: str = ""


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    credentials: AwsCredentials,
    now: dt.datetime | None = None,
) -> None:
    """Add `X-Amz-Date`, `X-Amz-Security-Token` (when there is one) and `Authorization` to
    `headers` for a request to the fully encoded `url`."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    parts = urlsplit(url)
    headers["X-Amz-Date"] = stamp
    if credentials.session_token:
        headers["X-Amz-Security-Token"] = credentials.session_token
    payload = hashlib.sha256(body or b"").hexdigest()
    if credentials.service == "s3":
        headers["X-Amz-Content-Sha256"] = payload
    signed = {k.lower(): " ".join(v.split()) for k, v in headers.items() if _signable(k)}
    signed["host"] = _host(parts.scheme, parts.netloc)
    names = sorted(signed)
    canonical = "\n".join(
        [
            method.upper(),
            _canonical_path(parts.path, double=credentials.service != "s3"),
            _canonical_query(parts.query),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload,
        ]
    )
    scope = f"{day}/{credentials.region}/{credentials.service}/aws4_request"
    to_sign = "\n".join([_ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _signing_key(credentials, day)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )


def _signable(name: str) -> bool:
    lower = name.lower()
    return lower.startswith("x-amz-") or lower in ("content-type", "content-md5")


def _host(scheme: str, netloc: str) -> str:
    host = netloc.rsplit("@", 1)[-1].lower()
    default = {"http": ":80", "https": ":443"}.get(scheme.lower())
    return host[: -len(default)] if default and host.endswith(default) else host


def _canonical_path(path: str, double: bool) -> str:
    """Each segment URI-encoded; services other than S3 want the encoded path encoded again."""
    if not path:
        return "/"
    segments = [quote(unquote(s), safe=_UNRESERVED) for s in path.split("/")]
    if double:
        segments = [quote(s, safe=_UNRESERVED) for s in segments]
    return "/".join(segments)


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else []:
        key, _, value = item.partition("=")
        pairs.append(
            (
                quote(unquote(key.replace("+", " ")), safe=_UNRESERVED),
                quote(unquote(value.replace("+", " ")), safe=_UNRESERVED),
            )
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _signing_key(credentials: AwsCredentials, day: str) -> bytes:
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (day, credentials.region, credentials.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
