#!/usr/bin/env python3
"""Writes the seed corpus: a few valid frames per target, in the input layout of
fuzz/src/lib.rs (config bytes | chunk spec | payload). Run from fuzz/: python3 seeds/generate.py"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

SEEDS = {
    # max_length 32, Keep
    "line": (bytes([32, 0]), b"hello\nworld\r\n\nlast, partial"),
    # delimiters "\r\n" and "\n", max_length 32, Keep
    "delimiter": (bytes([1, 1]) + b"\r\n" + bytes([0]) + b"\n" + bytes([32, 0]),
                  b"one\r\ntwo\nthree\r\nfour\r"),
    # offset 0, width 2, big-endian, adjustment 0, max 2 + 100, strip the header
    "length_field": (bytes([0, 1, 0, 0, 100, 0, 0]), b"\x00\x05hello\x00\x00\x00\x03abc"),
    # frame length 4
    "fixed_length": (bytes([3]), b"abcdefghij"),
    # max_chunk 8
    "bytes": (bytes([7]), b"some raw bytes, more than one chunk"),
    # max_bulk 32, max_args 4, max_inline 64, max_request 200
    "resp": (bytes([32, 4, 64, 200]),
             b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\nSET k \"two\\x20words\"\r\n*0\r\n*1\r\n$4\r\nPI"),
    # max_head 512, max_headers 8, max_body 64
    "http": (bytes([255, 1, 8, 64]),
             b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"
             b"\r\nPOST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
             b"GET / HTTP/1.0\n\nGET /partial HTTP/1.1\r\nHo"),
    # no config: a version 2 header (IPv4, an ALPN and an authority TLV) and what follows
    "proxy_protocol": (b"",
                       b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x1b"
                       b"\xc0\x00\x02\x07\xc6\x33\x64\x01\xc7\x38\x01\xbb"
                       b"\x01\x00\x02h2\x02\x00\x07example"
                       b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"),
}

# Chunk specs: one piece; cuts after 1, 5 and 2 bytes; byte at a time.
CHUNKS = {"whole": bytes([0]), "cuts": bytes([3, 1, 5, 2]), "bytewise": bytes([8])}

for target, (config, payload) in SEEDS.items():
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    for name, spec in CHUNKS.items():
        with open(os.path.join(HERE, target, name), "wb") as f:
            f.write(config + spec + payload)
