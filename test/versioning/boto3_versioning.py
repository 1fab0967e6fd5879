"""Versioning checks with Debian's python3-boto3 against a kura server.

Usage: boto3_versioning.py ENDPOINT BUCKET CHECK...   (credentials, region, CA bundle from the environment)
Prints one JSON line per check: {"check": name, "ok": bool, "error": traceback}.
"""
import json
import sys
import traceback

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client('s3', endpoint_url=endpoint, config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))


def error_of(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['ResponseMetadata']['HTTPHeaders']
    raise AssertionError('expected an error')


def listing(prefix):
    """(key, version id, is latest, 'V'|'M') in listing order, from the paginator (one version per page)."""
    out = []
    pages = s3.get_paginator('list_object_versions').paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={'PageSize': 1})
    for page in pages:
        assert len(page.get('Versions', [])) + len(page.get('DeleteMarkers', [])) <= 1
        for v in page.get('Versions', []):
            out.append((v['Key'], v['VersionId'], v['IsLatest'], 'V'))
        for m in page.get('DeleteMarkers', []):
            out.append((m['Key'], m['VersionId'], m['IsLatest'], 'M'))
    return out


def enabled_versions():
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={'Status': 'Enabled'})
    assert s3.get_bucket_versioning(Bucket=bucket)['Status'] == 'Enabled'
    ids = [s3.put_object(Bucket=bucket, Key='en/k', Body=b'body-%d' % i)['VersionId'] for i in range(3)]
    assert len(set(ids)) == 3
    for i, vid in enumerate(ids):
        r = s3.get_object(Bucket=bucket, Key='en/k', VersionId=vid)
        assert r['VersionId'] == vid and r['Body'].read() == b'body-%d' % i
    assert s3.head_object(Bucket=bucket, Key='en/k')['VersionId'] == ids[-1]
    assert listing('en/') == [('en/k', ids[2], True, 'V'), ('en/k', ids[1], False, 'V'), ('en/k', ids[0], False, 'V')]
    code, status, _ = error_of(s3.get_object, Bucket=bucket, Key='en/k', VersionId='0' * 32)
    assert (code, status) == ('NoSuchVersion', 404), code
    code, status, _ = error_of(s3.get_object, Bucket=bucket, Key='en/k', VersionId='not-a-version')
    assert (code, status) == ('InvalidArgument', 400), code


def delete_markers():
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={'Status': 'Enabled'})
    v1 = s3.put_object(Bucket=bucket, Key='dm/k', Body=b'one')['VersionId']
    d = s3.delete_object(Bucket=bucket, Key='dm/k')
    assert d['DeleteMarker'] is True and d['VersionId'] not in (None, v1, 'null')
    code, status, headers = error_of(s3.get_object, Bucket=bucket, Key='dm/k')
    assert (code, status) == ('NoSuchKey', 404) and headers.get('x-amz-delete-marker') == 'true', headers
    code, status, headers = error_of(s3.get_object, Bucket=bucket, Key='dm/k', VersionId=d['VersionId'])
    assert (code, status) == ('MethodNotAllowed', 405) and headers.get('x-amz-delete-marker') == 'true', (code, headers)
    assert 'Contents' not in s3.list_objects_v2(Bucket=bucket, Prefix='dm/')
    assert listing('dm/') == [('dm/k', d['VersionId'], True, 'M'), ('dm/k', v1, False, 'V')]
    undo = s3.delete_object(Bucket=bucket, Key='dm/k', VersionId=d['VersionId'])
    assert undo['DeleteMarker'] is True and undo['VersionId'] == d['VersionId']
    assert s3.get_object(Bucket=bucket, Key='dm/k')['Body'].read() == b'one'
    r = s3.delete_objects(Bucket=bucket, Delete={'Objects': [{'Key': 'dm/k', 'VersionId': v1}, {'Key': 'dm/new'}]})
    deleted = {(x['Key'], x.get('VersionId')): x for x in r['Deleted']}
    assert ('dm/k', v1) in deleted and deleted[('dm/new', None)]['DeleteMarker'] is True
    assert deleted[('dm/new', None)]['DeleteMarkerVersionId']
    assert [(k, m) for k, _, _, m in listing('dm/')] == [('dm/new', 'M')]


def suspended_null_versions():
    s3.put_object(Bucket=bucket, Key='sus/k', Body=b'before')  # bucket state decides: run first on a fresh bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={'Status': 'Suspended'})
    assert s3.get_bucket_versioning(Bucket=bucket)['Status'] == 'Suspended'
    p = s3.put_object(Bucket=bucket, Key='sus/k', Body=b'null-1')
    assert 'VersionId' not in p, p
    got = s3.get_object(Bucket=bucket, Key='sus/k')
    assert got['VersionId'] == 'null' and got['Body'].read() == b'null-1'
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={'Status': 'Enabled'})
    v = s3.put_object(Bucket=bucket, Key='sus/k', Body=b'versioned')['VersionId']
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={'Status': 'Suspended'})
    s3.put_object(Bucket=bucket, Key='sus/k', Body=b'null-2')
    assert listing('sus/') == [('sus/k', 'null', True, 'V'), ('sus/k', v, False, 'V')]
    assert s3.get_object(Bucket=bucket, Key='sus/k', VersionId='null')['Body'].read() == b'null-2'
    d = s3.delete_object(Bucket=bucket, Key='sus/k')
    assert d['DeleteMarker'] is True and d['VersionId'] == 'null', d
    assert listing('sus/') == [('sus/k', 'null', True, 'M'), ('sus/k', v, False, 'V')]
    assert s3.get_object(Bucket=bucket, Key='sus/k', VersionId=v)['Body'].read() == b'versioned'


def paging():
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={'Status': 'Enabled'})
    expected = set()
    for k in ['pg/a', 'pg/b/1', 'pg/b/2', 'pg/c']:
        for i in range(4):
            expected.add(s3.put_object(Bucket=bucket, Key=k, Body=b'x')['VersionId'])
        expected.add(s3.delete_object(Bucket=bucket, Key=k)['VersionId'])
    seen = [vid for _, vid, _, _ in listing('pg/')]
    assert len(seen) == len(expected) == 20 and set(seen) == expected
    pages = list(s3.get_paginator('list_object_versions').paginate(Bucket=bucket, Prefix='pg/', Delimiter='/', PaginationConfig={'PageSize': 3}))
    prefixes = [p['Prefix'] for page in pages for p in page.get('CommonPrefixes', [])]
    assert prefixes == ['pg/b/'], prefixes
    assert sum(len(page.get('Versions', [])) + len(page.get('DeleteMarkers', [])) for page in pages) == 10


CHECKS = {f.__name__: f for f in [suspended_null_versions, enabled_versions, delete_markers, paging]}

for name in sys.argv[3:]:
    try:
        CHECKS[name]()
        print(json.dumps({'check': name, 'ok': True}), flush=True)
    except Exception:
        print(json.dumps({'check': name, 'ok': False, 'error': traceback.format_exc()}), flush=True)
