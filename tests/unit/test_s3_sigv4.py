"""SigV4 signing of single requests (assay.store.s3.sigv4) against AWS's published examples
and botocore's own signer."""

from __future__ import annotations

import datetime
import hashlib

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from assay.store.s3.sigv4 import Credentials, sign, uri_path

# The example credentials and moment of AWS's "Signature Calculations for the Authorization
# Header" page (Amazon S3 API reference, sigv4-header-based-auth).
EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
MOMENT = datetime.datetime(2013, 5, 24, tzinfo=datetime.UTC)
EMPTY = hashlib.sha256(b"").hexdigest()


def _signature(headers: dict[str, str]) -> str:
    return headers["authorization"].rpartition("Signature=")[2]


def test_the_get_object_example_of_the_aws_documentation():
    headers = sign(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        {"range": "bytes=0-9"},
        EMPTY,
        EXAMPLE,
        "us-east-1",
        now=MOMENT,
    )
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
    )
    assert _signature(headers) == (
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_the_put_object_example_of_the_aws_documentation():
    body = b"Welcome to Amazon S3."
    headers = sign(
        "PUT",
        "examplebucket.s3.amazonaws.com",
        uri_path("/test$file.text"),
        {"date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
        hashlib.sha256(body).hexdigest(),
        EXAMPLE,
        "us-east-1",
        now=MOMENT,
    )
    assert _signature(headers) == (
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


def _botocore(path: str, headers: dict[str, str], body: bytes, token: str | None) -> AWSRequest:
    request = AWSRequest(
        method="PUT", url=f"http://127.0.0.1:28333{path}", data=body, headers=headers
    )
    S3SigV4Auth(BotoCredentials("AKID", "secret/with+chars", token), "s3", "eu-west-3").add_auth(
        request
    )
    return request


def test_a_put_with_a_session_token_and_an_odd_key_signs_as_botocore_does():
    body = b"x" * 1000
    key = "/bucket/pre fix/names/a+b/v1.json\x1b~"
    md5 = "bm90LWNoZWNrZWQtaGVyZQ=="
    for token in (None, "session/token=="):
        theirs = _botocore(uri_path(key), {"Content-MD5": md5, "If-None-Match": "*"}, body, token)
        moment = datetime.datetime.strptime(theirs.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        ours = sign(
            "PUT",
            "127.0.0.1:28333",
            uri_path(key),
            {"content-md5": md5, "if-none-match": "*"},
            hashlib.sha256(body).hexdigest(),
            Credentials("AKID", "secret/with+chars", token),
            "eu-west-3",
            now=moment.replace(tzinfo=datetime.UTC),
        )
        assert ours["authorization"] == theirs.headers["Authorization"]
        assert ours.get("x-amz-security-token") == token


def test_credentials_never_show_their_secret():
    creds = Credentials("AKID", "the-secret", "the-token")
    assert "the-secret" not in repr(creds) and "the-token" not in repr(creds)
    assert "the-secret" not in str(creds)
