"""A Python program that crashes the interpreter (SIGSEGV in C) three Python calls deep:
ctypes reads a string at address 0. `py-bt` in gdb should show handle, parse_request and
read_header with this file's line numbers."""
import ctypes


def read_header(address):
    return ctypes.string_at(address)


def parse_request(address):
    return read_header(address)


def handle():
    return parse_request(0)


handle()
