#!/usr/bin/env python3
"""A UDP listener that counts what reaches it: binds ADDR and a free port,
writes the port to PORT_FILE, then the number of packets received so far
to COUNT_FILE after each one, until it is terminated.
Usage: udp_count.py ADDR PORT_FILE COUNT_FILE"""
import os
import socket
import sys

addr, port_file, count_file = sys.argv[1:4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 0))
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
with open(count_file, "w") as f:
    f.write("0")
n = 0
while True:
    s.recv(4096)
    n += 1
    with open(count_file + ".tmp", "w") as f:
        f.write(str(n))
    os.rename(count_file + ".tmp", count_file)
