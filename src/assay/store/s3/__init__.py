"""S3-compatible object storage as a remote store: ``s3://BUCKET/PREFIX``.

The bucket holds the store's own layout under PREFIX: ``objects/KIND/XX/REST`` (the same
objects, under the same names, as a store on disk) and ``names/NAME/vN.json`` (version
records). Pushing and pulling use the one sending algorithm (:mod:`assay.store.transfer`):
only the tree objects the bucket lacks are read and sent, a level at a time, and of the files
they name only those the bucket lacks. Every object is sent after everything it names (files,
then directories deepest first, the root last), so a tree object in the bucket means all it
reaches is there too; the bucket cannot walk trees itself, and this is what lets a push skip
a directory the bucket holds without reading it.

An object of one piece (every blob and chunk: files of 8 MiB or more are stored as chunks of
at most 4 MiB) is one PUT; a larger one (a directory of a few hundred thousand entries, or any
object with a smaller ``piece``) is a multipart upload, one part per piece, that a later push
resumes from its last whole part. Every PUT carries the MD5 of its bytes, which the server
checks on arrival; a pull checks each object's BLAKE3 hash as it lands.

Credentials come from where every AWS tool looks (boto3's chain: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and ``~/.aws/credentials``, ``~/.aws/config``,
instance roles); the endpoint of a non-AWS server from ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``. No message names a secret.
"""

from assay.store.s3.bucket import (
    SCHEME,
    S3Bucket,
    S3Target,
    is_s3,
    parse_s3_url,
)
from assay.store.s3.ends import S3Sink, S3Source
from assay.store.s3.remote import S3Remote

__all__ = [
    "SCHEME",
    "S3Bucket",
    "S3Remote",
    "S3Sink",
    "S3Source",
    "S3Target",
    "is_s3",
    "parse_s3_url",
]
