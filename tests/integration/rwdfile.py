"""Reads and rewrites the chunks and events of a .rwd file (docs/recording-format.md,
format versions 1 and 2), for tests that damage or tamper with a recording on purpose.

    data = path.read_bytes()
    chunk = next(c for c in chunks(data) if c.type == EVENTS)
    events = decode_events(events_payload(data, chunk))
    path.write_bytes(replace_payload(data, chunk, new_payload))

Compressed payloads are decompressed with the zstd command-line tool.
"""
import dataclasses
import struct
import subprocess
import zlib

MAGIC = b"RWND\x89\r\n\x1a"
CHUNK_MAGIC = 0x4B434852
CHUNK_HEADER = struct.Struct("<IIIQQII")  # magic, type, flags, raw, stored, payload/header crc
MANIFEST, BLOB, EVENTS, TRAILER = 1, 2, 3, 4
COMPRESSED = 1

SYSCALL, SIGNAL, THREAD_START, THREAD_EXIT, EXEC, EXIT = 1, 2, 3, 4, 5, 6
SYSCALL_ENTRY, POINT, RDTSC = 7, 8, 9  # format version 2
RDTSC_PATCH, RDTSC_VALUES, CPUID = 10, 11, 12  # rdtsc answered in the target; cpuid
CLOCK_PATCH, CLOCK_VALUES = 13, 14  # vDSO clock reads answered in the target


@dataclasses.dataclass
class Chunk:
    offset: int  # of the chunk header
    type: int
    flags: int
    raw_size: int
    stored_size: int

    @property
    def payload_offset(self):
        return self.offset + CHUNK_HEADER.size

    @property
    def end(self):
        return self.payload_offset + self.stored_size


def chunks(data):
    """Every complete chunk, in file order."""
    if data[:8] != MAGIC:
        raise ValueError("not a rewind recording")
    found, offset = [], 16
    while offset + CHUNK_HEADER.size <= len(data):
        magic, type_, flags, raw, stored, _, _ = CHUNK_HEADER.unpack_from(data, offset)
        if magic != CHUNK_MAGIC or offset + CHUNK_HEADER.size + stored > len(data):
            break
        found.append(Chunk(offset, type_, flags, raw, stored))
        offset += CHUNK_HEADER.size + stored
    return found


def events_payload(data, chunk):
    stored = bytes(data[chunk.payload_offset:chunk.end])
    if not chunk.flags & COMPRESSED:
        return stored
    return subprocess.run(["zstd", "-d", "-q", "-c"], input=stored, capture_output=True,
                          check=True, timeout=60).stdout


def replace_payload(data, chunk, payload):
    """The file with this chunk's payload replaced by `payload`, stored uncompressed with
    valid checksums, so a reader accepts it and decodes the new bytes."""
    header = bytearray(CHUNK_HEADER.pack(CHUNK_MAGIC, chunk.type, 0, len(payload), len(payload),
                                         zlib.crc32(payload), 0))
    struct.pack_into("<I", header, 32, zlib.crc32(bytes(header[:32])))
    return bytes(data[:chunk.offset]) + bytes(header) + payload + bytes(data[chunk.end:])


@dataclasses.dataclass
class Event:
    type: int
    tid: int
    sysno: int = -1
    result: int = 0
    # (address, offset of the bytes in the payload, length) of what the kernel wrote
    outputs: list = dataclasses.field(default_factory=list)


def decode_events(payload):
    """The events of one events chunk's decompressed payload, with the payload offsets
    of each syscall's output bytes, so a test can change them in place."""
    events, pos = [], 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from(fmt, payload, pos)
        pos += struct.calcsize(fmt)
        return values

    def memlist():
        nonlocal pos
        (count,) = take("<I")
        entries = []
        for _ in range(count):
            addr, length = take("<QQ")
            entries.append((addr, pos, length))
            pos += length
        return entries

    while pos < len(payload):
        type_, tid, _time = take("<BIQ")
        event = Event(type_, tid)
        if type_ == SYSCALL:
            event.sysno, *_args, result, _completed = take("<Q6QQB")
            event.result = result - (1 << 64) if result >= 1 << 63 else result
            memlist()  # inputs
            event.outputs = memlist()
        elif type_ == SIGNAL:
            take("<IIQB")
        elif type_ in (THREAD_START, THREAD_EXIT, EXIT):
            take("<Q")
        elif type_ == EXEC:
            (length,) = take("<I")
            pos += length
        elif type_ == SYSCALL_ENTRY:
            event.sysno, *_args = take("<Q6Q")
        elif type_ == POINT:
            take("<BQ")  # reason, stack hash
            for _blob in ("registers", "siginfo"):
                (length,) = take("<I")
                pos += length
        elif type_ == RDTSC:
            take("<QQIB")  # rip, tsc, tsc_aux, rdtscp
        elif type_ == CPUID:
            take("<Q6I")  # rip, leaf, subleaf, eax, ebx, ecx, edx
        elif type_ in (RDTSC_PATCH, RDTSC_VALUES, CLOCK_PATCH, CLOCK_VALUES):
            take("<Q")  # rip, or the stub's page
            event.outputs = memlist()
        else:
            raise ValueError(f"unknown event type {type_} at payload offset {pos}")
        events.append(event)
    return events
