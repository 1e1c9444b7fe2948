"""AWS Signature Version 4 verification for the test peers.

The signature is recomputed with botocore.auth.SigV4Auth from what was
received: the method, the raw path and query, exactly the headers named in
SignedHeaders, and the SHA-256 of the body actually received (never a
client-supplied X-Amz-Content-SHA256, which must match the body when sent).
The query string is canonicalised as AWS does (decoded, re-encoded per RFC
3986, sorted), so a client that does not sort or encode its query correctly
is refused, as AWS would refuse it."""
import datetime
import hashlib
import hmac
import re
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE = re.compile(r"\d{8}T\d{6}Z\Z")
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation "
            "for details.")


class AuthError(Exception):
    def __init__(self, code, message, key=None):
        super().__init__(message)
        self.code, self.message, self.key = code, message, key


class _Recompute(SigV4Auth):
    """SigV4Auth over exactly the signed headers and the received body."""

    def __init__(self, creds, service, region, signed, body):
        super().__init__(creds, service, region)
        self._signed, self._body = signed, body

    def headers_to_sign(self, request):
        h = HTTPHeaders()
        for name, value in self._signed:
            h[name] = value
        return h

    def payload(self, request):
        return hashlib.sha256(self._body).hexdigest()

    def canonical_query_string(self, request):
        query = urlsplit(request.url).query
        if not query:
            return ""
        pairs = []
        for part in query.split("&"):
            k, _, v = part.partition("=")
            pairs.append((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")))
        return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def static_credentials(items):
    """The peers' --credentials list ({access_key, secret_key, token?,
    expires?} each) as {access_key: {secret, token, expires}}; ValueError
    when one lacks a key."""
    creds = {}
    for c in items:
        if not isinstance(c, dict) or not c.get("access_key") or not c.get("secret_key"):
            raise ValueError("each credential needs access_key and secret_key")
        creds[str(c["access_key"])] = {"secret": str(c["secret_key"]), "token": c.get("token") or None,
                                       "expires": c.get("expires")}
    return creds


def parse_authorization(value):
    """{'Credential':..., 'SignedHeaders':..., 'Signature':...} or AuthError."""
    alg, _, rest = value.strip().partition(" ")
    if alg != ALGORITHM:
        raise AuthError("IncompleteSignature", f"Unsupported AWS 'algorithm': '{alg}'")
    parts = {}
    for item in rest.split(","):
        k, eq, v = item.strip().partition("=")
        if not eq:
            raise AuthError("IncompleteSignature", f"'{item.strip()}' not a valid key=value pair (missing equal-sign) "
                            f"in Authorization header: '{value}'.")
        parts[k] = v
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise AuthError("IncompleteSignature", " ".join(f"Authorization header requires '{k}' parameter."
                                                       for k in missing) + f" Authorization={value}")
    return parts


def _fmt(t):
    return t.strftime("%Y%m%dT%H%M%SZ")


def verify(method, target, headers, body, lookup, region="us-east-1", service="route53",
           max_skew_s=300, now=None):
    """Check one request.  headers: list of (name, value) as received.
    lookup(access_key) -> dict(secret, token, expires) or None; expires is a
    wall-clock epoch or None.  Returns the access key, or raises AuthError."""
    hmap = {}
    for k, v in headers:
        hmap.setdefault(k.lower(), []).append(v)
    auth = hmap.get("authorization")
    if not auth:
        if "X-Amz-Algorithm=" in target or "X-Amz-Signature=" in target:
            raise AuthError("IncompleteSignature", "Query-string (presigned) authentication is not accepted here")
        raise AuthError("MissingAuthenticationToken", "Missing Authentication Token")
    if len(auth) > 1:
        raise AuthError("IncompleteSignature", "More than one Authorization header")
    parts = parse_authorization(auth[0])
    cred = parts["Credential"].split("/")
    if len(cred) != 5:
        raise AuthError("IncompleteSignature", f"Credential must have exactly 5 slash-delimited elements, e.g. "
                        f"keyid/date/region/service/term, got '{parts['Credential']}'")
    akid, cdate, cregion, cservice, term = cred
    if term != "aws4_request":
        raise AuthError("SignatureDoesNotMatch", f"Credential should be scoped with a valid terminator: "
                        f"'aws4_request', not '{term}'.", akid)
    if cregion != region:
        raise AuthError("SignatureDoesNotMatch", f"Credential should be scoped to a valid region, not "
                        f"'{cregion}'. ", akid)
    if cservice != service:
        raise AuthError("SignatureDoesNotMatch", f"Credential should be scoped to correct service: "
                        f"'{service}'. ", akid)
    amz_date = hmap.get("x-amz-date", [None])[0]
    if amz_date is None:
        raise AuthError("IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' "
                        "or a 'Date' header. Authorization=" + auth[0], akid)
    if not AMZ_DATE.match(amz_date):
        raise AuthError("IncompleteSignature", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                        "See http://en.wikipedia.org/wiki/ISO_8601", akid)
    if cdate != amz_date[:8]:
        raise AuthError("SignatureDoesNotMatch", f"Date in Credential scope does not match YYYYMMDD from "
                        f"ISO-8601 version of date from HTTP: '{cdate}' != '{amz_date[:8]}', from "
                        f"'{amz_date}'.", akid)
    t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    now_dt = datetime.datetime.fromtimestamp(now, datetime.timezone.utc) if now else \
        datetime.datetime.now(datetime.timezone.utc)
    skew = datetime.timedelta(seconds=max_skew_s)
    if t < now_dt - skew:
        raise AuthError("SignatureDoesNotMatch", f"Signature expired: {amz_date} is now earlier than "
                        f"{_fmt(now_dt - skew)} ({_fmt(now_dt)} - {max_skew_s // 60} min.)", akid)
    if t > now_dt + skew:
        raise AuthError("SignatureDoesNotMatch", f"Signature not yet current: {amz_date} is still later than "
                        f"{_fmt(now_dt + skew)} ({_fmt(now_dt)} + {max_skew_s // 60} min.)", akid)
    signed_names = parts["SignedHeaders"].split(";")
    if signed_names != sorted(set(signed_names)) or any(n != n.lower() or not n for n in signed_names):
        raise AuthError("SignatureDoesNotMatch", MISMATCH + f" (SignedHeaders '{parts['SignedHeaders']}' are not "
                        "lower-case, sorted and unique)", akid)
    if "host" not in signed_names:
        raise AuthError("SignatureDoesNotMatch", "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                        "Authorization.", akid)
    if "x-amz-date" not in signed_names:
        raise AuthError("SignatureDoesNotMatch", "'X-Amz-Date' must be a 'SignedHeader' in the AWS "
                        "Authorization.", akid)
    signed = []
    for n in signed_names:
        if n not in hmap:
            raise AuthError("SignatureDoesNotMatch", MISMATCH + f" (header '{n}' is named in SignedHeaders "
                            "but was not sent)", akid)
        for v in hmap[n]:
            signed.append((n, v))
    c = lookup(akid)
    if c is None:
        raise AuthError("InvalidClientTokenId", "The security token included in the request is invalid.", akid)
    if c.get("expires") is not None and (now or datetime.datetime.now().timestamp()) >= c["expires"]:
        raise AuthError("ExpiredToken", "The security token included in the request is expired", akid)
    sent_token = hmap.get("x-amz-security-token", [None])[0]
    if (c.get("token") or None) != sent_token:
        raise AuthError("InvalidClientTokenId", "The security token included in the request is invalid.", akid)
    if sent_token is not None and "x-amz-security-token" not in signed_names:
        raise AuthError("SignatureDoesNotMatch", MISMATCH + " (X-Amz-Security-Token must be a signed header)",
                        akid)
    sha_hdr = hmap.get("x-amz-content-sha256", [None])[0]
    if sha_hdr is not None and sha_hdr != hashlib.sha256(body).hexdigest():
        raise AuthError("SignatureDoesNotMatch", MISMATCH + " (X-Amz-Content-SHA256 does not match the body)",
                        akid)
    host = hmap["host"][0]
    req = AWSRequest(method=method, url=f"http://{host}{target}", data=body)
    req.context["timestamp"] = amz_date
    signer = _Recompute(Credentials(akid, c["secret"], c.get("token")), service, region, signed, body)
    creq = signer.canonical_request(req)
    sts = signer.string_to_sign(req, creq)
    want = signer.signature(sts, req)
    if not hmac.compare_digest(want, parts["Signature"]):
        raise AuthError("SignatureDoesNotMatch", MISMATCH + "\n\nThe Canonical String for this request should "
                        f"have been\n'{creq}'\n\nThe String-to-Sign should have been\n'{sts}'\n", akid)
    return akid
