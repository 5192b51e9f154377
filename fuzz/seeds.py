#!/usr/bin/env python3
"""Writes each fuzz target's starting inputs into fuzz/corpus/<target>/,
from the repository's test vectors (libsodium's secretstream output, the
frozen stored records), its media fixtures and the answers and requests
its tests use. Run from anywhere; rerun after a vector changes. Inputs the
fuzzer later found (kept by `scripts/fuzz.sh`) sit beside these."""

import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


def u16(n):
    return struct.pack("<H", n)


def secretstream():
    vectors = json.loads((ROOT / "tests/vectors/libsodium.json").read_text())
    for i, v in enumerate(vectors["secretstream"]):
        key, header = bytes.fromhex(v["key"]), bytes.fromhex(v["header"])
        frames = b""
        for m in v["messages"]:
            ad, ct = bytes.fromhex(m["ad"]), bytes.fromhex(m["ciphertext"])
            frames += bytes([len(ad)]) + u16(len(ct)) + ad + ct
        write("secretstream", f"libsodium-{i}", b"\0" + key + header + frames)
        # The first message alone, as a whole file and as one message.
        first = bytes.fromhex(v["messages"][0]["ciphertext"])
        write("secretstream", f"libsodium-{i}-raw", b"\0" + key + header + first)
    write("secretstream", "short-header", b"\1" + bytes(32) + b"\x17" + bytes(23 + 17))


def roundtrip():
    key, header = bytes(range(32)), bytes(range(100, 124))
    msgs = b""
    for op, ad, msg in [(0, b"", b"hello"), (0x85, b"ad", b"x" * 70), (3, b"", b"")]:
        msgs += bytes([op, len(ad)]) + u16(len(msg)) + ad + msg
    write("roundtrip", "three", key + header + b"\3" + msgs + b"file contents")
    write("roundtrip", "empty", key + header + b"\0")


def checkpoint():
    key = bytes(range(32))
    header = bytes(range(24))
    for mode in (1, 3):
        edits = b"\1" + b"\0" + u16(7) + b"\x01"
        write("checkpoint", f"made-{mode}", bytes([mode]) + key + header + edits + b"plain")
        write("checkpoint", f"unedited-{mode}", bytes([mode]) + key + header + b"\0" + b"p" * 200)
    for kind in (1, 2, 3):
        write("checkpoint", f"raw-{kind}", b"\0" + key + b"FRY\x01" + bytes([kind]) + bytes(64))


TABLES = {"items": 0, "runnable": 1, "hashes": 2, "meta": 3}


def records():
    vectors = json.loads((ROOT / "tests/vectors/records-v1.json").read_text())
    for r in vectors["records"]:
        key, value = bytes.fromhex(r["key"]), bytes.fromhex(r["value"] or "")
        name = r["name"].replace("/", "-")
        write("records", name, bytes([TABLES[r["table"]], len(key)]) + key + value)


# Answers as the reference server and museum send them, from the tests.
ANSWERS = [
    (200, [], b'{"urls":[{"objectKey":"1/x","url":"http://s3/x"}]}'),
    (200, [], b'{"urls":{"objectKey":"1/y","partURLs":["p1","p2"],"completeURL":"c"}}'),
    (200, [("etag", '"abc"')], b""),
    (200, [], b'{"id":41,"updationTime":3,"file":{"objectKey":"1/a"}}'),
    (200, [], b'{"diff":[{"id":5,"ownerID":1,"collectionID":7,"encryptedKey":"k","keyDecryptionNonce":"n",'
              b'"metadata":{"encryptedData":"ZGF0YQ==","decryptionHeader":"aGVhZA=="},"isDeleted":false,'
              b'"updationTime":1700000000000000},{"id":6,"isDeleted":true,"metadata":"-",'
              b'"updationTime":1700000000000005},{"id":"seven","updationTime":1},42],"hasMore":true}'),
    (200, [], b'{"fileType":1,"title":"clip.mov","creationTime":1689352215250000,'
              b'"modificationTime":1700000000000000,"hash":"aGFzaA==","latitude":-33.856800,'
              b'"longitude":0.000005,"duration":13,"hasStaticThumbnail":true}'),
    (404, [], b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code></Error>'),
    (400, [], b'{"code":"SIZE_MISMATCH","message":"x"}'),
    (429, [("retry-after", "7")], b'{"error":"Rate limit breached, try later"}'),
    (503, [], b'{"code":"OBJECT_SIZE_FETCH_FAILED","message":""}'),
    (200, [], b"aGVsbG8gd29ybGQ="),
]


def api():
    for i, (status, headers, body) in enumerate(ANSWERS):
        out = u16(status) + b"\2" + bytes([len(headers)])
        for name, value in headers:
            out += bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()
        write("api", f"answer-{i}", out + body)
        if body[:1] in (b"{", b"["):
            write("json", f"answer-{i}", body)
    write("json", "nested", b'{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\ud83d\\ude00\\n"],"b":{}}')


def media():
    for path in sorted((ROOT / "tests/fixtures/media").iterdir()):
        write("media", path.name, b"\0" + path.read_bytes())


def b64(data):
    import base64
    return base64.b64encode(data).decode()


def server():
    new_file = {
        "collectionID": 1,
        "encryptedKey": b64(bytes(48)),
        "keyDecryptionNonce": b64(bytes(24)),
        "file": {"objectKey": "1/" + "a" * 20, "decryptionHeader": b64(bytes(24)), "size": 5},
        "thumbnail": {"objectKey": "1/" + "b" * 20, "decryptionHeader": b64(bytes(24)), "size": 3},
        "metadata": {"encryptedData": b64(b"meta"), "decryptionHeader": b64(bytes(24))},
    }
    collection = {
        "encryptedKey": b64(bytes(48)),
        "keyDecryptionNonce": b64(bytes(24)),
        "encryptedName": b64(b"name"),
        "nameDecryptionNonce": b64(bytes(24)),
        "type": "album",
    }
    trash = {"items": [{"fileID": 1, "collectionID": 2}, {"fileID": 3, "collectionID": 2}]}
    faults = {"seed": 7, "rules": [{"route": "files", "errorRate": 0.5, "status": 503, "latencyMs": 1}]}
    bodies = [new_file, collection, trash, {"expired": True}, faults]
    for route, body in enumerate(bodies):
        for flags in (2, 3):
            write("server", f"body-{route}-{flags}", bytes([route, flags]) + json.dumps(body).encode())
    write("server", "query", b"\5\1count=3&collectionID=1&sinceTime=1700000000000000")
    write("server", "object-key", b"\6\0" + b"1/abcdefghijklmnopqrstuvwxyz")


if __name__ == "__main__":
    for make in (secretstream, roundtrip, checkpoint, records, api, media, server):
        make()
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"corpus: {total} bytes under {CORPUS.relative_to(ROOT)}")
