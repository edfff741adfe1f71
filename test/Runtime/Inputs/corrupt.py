"""Copies a file with one byte in its second half flipped."""
import sys

data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) * 3 // 4] ^= 0x5A
open(sys.argv[2], "wb").write(data)
