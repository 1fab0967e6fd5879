"""boto3 (Debian's python3-boto3) against a kura server: run by test/tools/boto3.test.ts.

Usage: boto3_checks.py ENDPOINT BUCKET CHECK...
Credentials, region and (for HTTPS) AWS_CA_BUNDLE come from the environment, as for any boto3 user:
only endpoint_url differs from a program written for AWS.
Prints one JSON line per check: {"check": name, "ok": true} or {"check": name, "ok": false, "error": traceback}.
"""
import hashlib
import io
import json
import os
import ssl
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, BUCKET = sys.argv[1], sys.argv[2]
MiB = 1024 * 1024

s3 = boto3.client("s3", endpoint_url=ENDPOINT)
resource = boto3.resource("s3", endpoint_url=ENDPOINT)
_ca = os.environ.get("AWS_CA_BUNDLE")
url_context = ssl.create_default_context(cafile=_ca) if _ca else None


def fetch(url, method="GET", data=None):
    """(status, body) of a plain HTTP request, as a browser or curl would send it."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, context=url_context) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def client_error(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        return e
    raise AssertionError(f"{fn.__name__}({kwargs}) should have failed")


def eq(actual, expected, what=""):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def check_bucket_lifecycle():
    s3.head_bucket(Bucket=BUCKET)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert BUCKET in names, names
    eq(s3.get_bucket_location(Bucket=BUCKET).get("LocationConstraint"), None, "LocationConstraint")
    eq(s3.get_bucket_versioning(Bucket=BUCKET).get("Status"), None, "versioning status")
    tmp = BUCKET + "-tmp"
    s3.create_bucket(Bucket=tmp)
    s3.delete_bucket(Bucket=tmp)
    eq(client_error(s3.head_bucket, Bucket=tmp).response["Error"]["Code"], "404", "head of deleted bucket")


def check_put_get_head():
    body = b"hello from boto3\n"
    put = s3.put_object(Bucket=BUCKET, Key="obj/hello.txt", Body=body, ContentType="text/plain",
                        Metadata={"Colour": "blue", "n": "1"}, ContentDisposition="attachment")
    eq(put["ETag"], '"%s"' % hashlib.md5(body).hexdigest(), "ETag")
    got = s3.get_object(Bucket=BUCKET, Key="obj/hello.txt")
    eq(got["Body"].read(), body, "body")
    eq(got["ContentType"], "text/plain", "ContentType")
    eq(got["ContentDisposition"], "attachment", "ContentDisposition")
    eq(got["Metadata"], {"colour": "blue", "n": "1"}, "Metadata (names lower-cased as on AWS)")
    head = s3.head_object(Bucket=BUCKET, Key="obj/hello.txt")
    eq(head["ContentLength"], len(body), "ContentLength")
    eq(head["ETag"], put["ETag"], "HEAD ETag")
    # Resource API and a unicode key.
    obj = resource.Object(BUCKET, "obj/ünïcode key ☃.txt")
    obj.put(Body=b"snow")
    eq(obj.get()["Body"].read(), b"snow", "unicode key body")
    eq(obj.content_length, 4, "resource content_length")


def check_range_get():
    s3.put_object(Bucket=BUCKET, Key="obj/digits", Body=b"0123456789")
    got = s3.get_object(Bucket=BUCKET, Key="obj/digits", Range="bytes=2-5")
    eq(got["ResponseMetadata"]["HTTPStatusCode"], 206, "status")
    eq(got["ContentRange"], "bytes 2-5/10", "ContentRange")
    eq(got["Body"].read(), b"2345", "range body")
    e = client_error(s3.get_object, Bucket=BUCKET, Key="obj/digits", Range="bytes=20-30")
    eq(e.response["Error"]["Code"], "InvalidRange", "unsatisfiable range")
    eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 416, "status")


def check_list_v2():
    keys = [f"list/{c}" for c in "abcdefg"] + ["list/sub/x", "list/sub/y", "list/other/z"]
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"")
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="list/", PaginationConfig={"PageSize": 3}))
    eq(len(pages), 4, "pages of 3")
    eq([o["Key"] for p in pages for o in p["Contents"]], sorted(keys), "keys over all pages")
    eq([p["KeyCount"] for p in pages], [3, 3, 3, 1], "KeyCount per page")
    assert all(p["IsTruncated"] for p in pages[:-1]) and not pages[-1]["IsTruncated"]
    d = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", Delimiter="/")
    eq([p["Prefix"] for p in d["CommonPrefixes"]], ["list/other/", "list/sub/"], "CommonPrefixes")
    eq(len(d["Contents"]), 7, "Contents beside the prefixes")
    after = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", StartAfter="list/g")
    eq([o["Key"] for o in after["Contents"]], ["list/other/z", "list/sub/x", "list/sub/y"], "StartAfter")
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=BUCKET, Prefix="list/", PaginationConfig={"PageSize": 4}))
    eq([o["Key"] for p in v1 for o in p["Contents"]], sorted(keys), "ListObjects v1 over pages")
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="list/sub/")
    eq([(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]],
       [("list/sub/x", "null", True), ("list/sub/y", "null", True)], "ListObjectVersions")


def check_copy_object():
    s3.put_object(Bucket=BUCKET, Key="copy/src", Body=b"copy me", Metadata={"a": "1"}, ContentType="text/x-src")
    s3.copy_object(Bucket=BUCKET, Key="copy/same-meta", CopySource={"Bucket": BUCKET, "Key": "copy/src"})
    h = s3.head_object(Bucket=BUCKET, Key="copy/same-meta")
    eq((h["Metadata"], h["ContentType"]), ({"a": "1"}, "text/x-src"), "COPY directive")
    s3.copy_object(Bucket=BUCKET, Key="copy/new-meta", CopySource=f"{BUCKET}/copy/src",
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/plain")
    h = s3.head_object(Bucket=BUCKET, Key="copy/new-meta")
    eq((h["Metadata"], h["ContentType"]), ({"b": "2"}, "text/plain"), "REPLACE directive")
    eq(s3.get_object(Bucket=BUCKET, Key="copy/new-meta")["Body"].read(), b"copy me", "copied body")
    # The managed copy (what s3.copy() / Object.copy_from users call).
    s3.copy({"Bucket": BUCKET, "Key": "copy/src"}, BUCKET, "copy/managed")
    eq(s3.get_object(Bucket=BUCKET, Key="copy/managed")["Body"].read(), b"copy me", "managed copy")


def check_delete_objects():
    keys = [f"del/{i}" for i in range(5)]
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="del/0")
    s3.delete_object(Bucket=BUCKET, Key="del/never-existed")  # 204 like AWS
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[1:]] + [{"Key": "del/absent"}]})
    eq(sorted(d["Key"] for d in r["Deleted"]), sorted(keys[1:] + ["del/absent"]), "Deleted")
    eq(r.get("Errors"), None, "Errors")
    eq(s3.list_objects_v2(Bucket=BUCKET, Prefix="del/")["KeyCount"], 0, "left after delete")
    # Bucket.objects.filter().delete() batches through DeleteObjects too.
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"x")
    resource.Bucket(BUCKET).objects.filter(Prefix="del/").delete()
    eq(s3.list_objects_v2(Bucket=BUCKET, Prefix="del/")["KeyCount"], 0, "left after batch delete")


def check_upload_file_multipart():
    size = 13 * MiB + 7
    data = os.urandom(size)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src.bin")
        with open(src, "wb") as f:
            f.write(data)
        s3.upload_file(src, BUCKET, "mpu/managed.bin", Config=config, ExtraArgs={"Metadata": {"via": "upload_file"}})
        head = s3.head_object(Bucket=BUCKET, Key="mpu/managed.bin")
        eq(head["ContentLength"], size, "size")
        assert head["ETag"].endswith('-3"'), f"multipart ETag expected, got {head['ETag']}"
        eq(head["Metadata"], {"via": "upload_file"}, "metadata through CreateMultipartUpload")
        dst = os.path.join(d, "dst.bin")
        s3.download_file(BUCKET, "mpu/managed.bin", dst, Config=config)  # ranged GETs in parallel
        with open(dst, "rb") as f:
            assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest(), "download_file differs"
    buf = io.BytesIO()
    s3.download_fileobj(BUCKET, "mpu/managed.bin", buf)
    assert buf.getvalue() == data, "download_fileobj differs"
    s3.upload_fileobj(io.BytesIO(data[: 6 * MiB]), BUCKET, "mpu/fileobj.bin", Config=config)
    eq(s3.get_object(Bucket=BUCKET, Key="mpu/fileobj.bin")["Body"].read(), data[: 6 * MiB], "upload_fileobj")


def check_multipart_low_level():
    key = "mpu/low-level"
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="application/x-parts")
    uid = up["UploadId"]
    p1 = os.urandom(5 * MiB)
    p2 = b"last part"
    e1 = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    eq(e1, '"%s"' % hashlib.md5(p1).hexdigest(), "part ETag")
    ups = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="mpu/")["Uploads"]
    assert any(u["UploadId"] == uid for u in ups), ups
    parts = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)["Parts"]
    eq([(p["PartNumber"], p["ETag"], p["Size"]) for p in parts], [(1, e1, len(p1)), (2, e2, len(p2))], "ListParts")
    paged = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid, MaxParts=1)
    eq((paged["IsTruncated"], paged["NextPartNumberMarker"]), (True, 1), "ListParts paging")
    # Completing with a part that is too small (not the last one) is refused like AWS.
    bad = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu/too-small")
    b1 = s3.upload_part(Bucket=BUCKET, Key="mpu/too-small", UploadId=bad["UploadId"], PartNumber=1, Body=b"tiny")["ETag"]
    b2 = s3.upload_part(Bucket=BUCKET, Key="mpu/too-small", UploadId=bad["UploadId"], PartNumber=2, Body=b"tiny")["ETag"]
    e = client_error(s3.complete_multipart_upload, Bucket=BUCKET, Key="mpu/too-small", UploadId=bad["UploadId"],
                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": b1}, {"PartNumber": 2, "ETag": b2}]})
    eq(e.response["Error"]["Code"], "EntityTooSmall", "small part")
    s3.abort_multipart_upload(Bucket=BUCKET, Key="mpu/too-small", UploadId=bad["UploadId"])
    e = client_error(s3.list_parts, Bucket=BUCKET, Key="mpu/too-small", UploadId=bad["UploadId"])
    eq(e.response["Error"]["Code"], "NoSuchUpload", "after abort")
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert done["ETag"].endswith('-2"'), done["ETag"]
    got = s3.get_object(Bucket=BUCKET, Key=key)
    eq(got["ContentType"], "application/x-parts", "ContentType")
    assert got["Body"].read() == p1 + p2, "completed object differs"
    eq(s3.get_object(Bucket=BUCKET, Key=key, PartNumber=2)["Body"].read(), p2, "GET ?partNumber=2")


def check_presigned_urls():
    s3.put_object(Bucket=BUCKET, Key="pre/a.txt", Body=b"presigned!")
    # This boto3 (1.26) presigns S3 URLs with Signature Version 2 unless told otherwise. Kura, like every
    # AWS region opened since 2014, accepts only SigV4, and answers such a URL the way those regions do.
    status, body = fetch(s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "pre/a.txt"}))
    eq(status, 400, "SigV2 presigned URL")
    assert b"<Code>InvalidRequest</Code>" in body and b"Please use AWS4-HMAC-SHA256" in body, body
    v4 = boto3.client("s3", endpoint_url=ENDPOINT, config=Config(signature_version="s3v4"))
    url = v4.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "pre/a.txt"}, ExpiresIn=300)
    assert url.startswith(ENDPOINT + "/"), url
    assert "X-Amz-Signature=" in url, url
    eq(fetch(url), (200, b"presigned!"), "presigned GET")
    put_url = v4.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "pre/up.txt"}, ExpiresIn=300)
    eq(fetch(put_url, method="PUT", data=b"uploaded")[0], 200, "presigned PUT")
    eq(s3.get_object(Bucket=BUCKET, Key="pre/up.txt")["Body"].read(), b"uploaded", "presigned PUT body")
    # A presigned URL for another method does not work for this one.
    status, body = fetch(url, method="DELETE")
    eq(status, 403, "DELETE with a GET signature")
    assert b"<Code>SignatureDoesNotMatch</Code>" in body, body
    short = v4.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "pre/a.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    status, body = fetch(short)
    eq(status, 403, "expired URL")
    assert b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body, body


def post_form(url, fields, filename, content):
    """(status, body) of a browser-style multipart/form-data POST: the fields, then the file."""
    boundary = "----kura" + os.urandom(8).hex()
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + f"\r\n--{boundary}--\r\n".encode())
    req = urllib.request.Request(url, method="POST", data=b"".join(parts),
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, context=url_context) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check_presigned_post():
    v4 = boto3.client("s3", endpoint_url=ENDPOINT, config=Config(signature_version="s3v4"))
    post = v4.generate_presigned_post(BUCKET, "form/${filename}", Fields={"Content-Type": "text/plain"},
                                      Conditions=[{"Content-Type": "text/plain"}, ["starts-with", "$key", "form/"],
                                                  ["content-length-range", 1, 64]], ExpiresIn=300)
    assert post["fields"].get("x-amz-algorithm") == "AWS4-HMAC-SHA256", post["fields"]
    status, body = post_form(post["url"], post["fields"], "hello.txt", b"posted by a form")
    eq(status, 204, f"POST upload ({body!r})")
    got = s3.get_object(Bucket=BUCKET, Key="form/hello.txt")
    eq((got["Body"].read(), got["ContentType"]), (b"posted by a form", "text/plain"), "POSTed object")
    status, body = post_form(post["url"], post["fields"], "big.txt", b"x" * 65)
    eq(status, 400, "content-length-range exceeded")
    assert b"<Code>EntityTooLarge</Code>" in body, body
    forged = dict(post["fields"], key="elsewhere/x.txt")
    status, body = post_form(post["url"], forged, "x.txt", b"forged")
    eq(status, 403, "key outside the policy")
    assert b"<Code>AccessDenied</Code>" in body, body


def check_error_codes():
    def code(e):
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]

    eq(code(client_error(s3.get_object, Bucket=BUCKET, Key="missing")), ("NoSuchKey", 404), "missing key")
    eq(code(client_error(s3.head_object, Bucket=BUCKET, Key="missing")), ("404", 404), "HEAD missing key")
    eq(code(client_error(s3.get_object, Bucket=BUCKET + "-absent", Key="k")), ("NoSuchBucket", 404), "missing bucket")
    eq(code(client_error(s3.list_objects_v2, Bucket=BUCKET + "-absent")), ("NoSuchBucket", 404), "list missing bucket")
    eq(code(client_error(s3.create_bucket, Bucket=BUCKET)), ("BucketAlreadyOwnedByYou", 409), "bucket again")
    eq(code(client_error(s3.delete_bucket, Bucket=BUCKET)), ("BucketNotEmpty", 409), "non-empty bucket")
    eq(code(client_error(s3.upload_part, Bucket=BUCKET, Key="k", UploadId="nope", PartNumber=1, Body=b"x")),
       ("NoSuchUpload", 404), "unknown upload")
    eq(code(client_error(s3.copy_object, Bucket=BUCKET, Key="c", CopySource=f"{BUCKET}/missing")), ("NoSuchKey", 404), "copy of missing")
    s3.put_object(Bucket=BUCKET, Key="err/etag", Body=b"v1")
    eq(code(client_error(s3.get_object, Bucket=BUCKET, Key="err/etag", IfMatch='"0000"')), ("PreconditionFailed", 412), "If-Match")
    bad_secret = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key="wrong" + os.environ["AWS_SECRET_ACCESS_KEY"][5:])
    eq(code(client_error(bad_secret.list_objects_v2, Bucket=BUCKET)), ("SignatureDoesNotMatch", 403), "wrong secret")
    unknown = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id="AKIANOTAKURAKEY00000",
                           aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    eq(code(client_error(unknown.list_buckets)), ("InvalidAccessKeyId", 403), "unknown access key")


for name in sys.argv[3:]:
    try:
        globals()["check_" + name]()
        print(json.dumps({"check": name, "ok": True}), flush=True)
    except Exception:
        print(json.dumps({"check": name, "ok": False, "error": traceback.format_exc()}), flush=True)
