#include "gdb/gdb_helpers.h"

namespace rwd {

const std::string_view kGdbHelpersPython = R"PY(# Written by rewind: time-travel commands for a replay served by `rewind debug`.
import gdb


def _refresh(info=""):
    # The replay moved behind gdb's back: select the thread it stands in (threads come
    # and go with time), then forget cached registers and frames.
    tid = None
    for line in info.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "thread" and words[1].isdigit():
            tid = int(words[1])
    for attempt in range(2):
        match = [t for t in gdb.selected_inferior().threads() if t.ptid[1] == tid]
        if match or tid is None:
            break
        try:
            gdb.execute("info threads", to_string=True)  # learn the threads born since
        except gdb.error:
            pass
    if match:
        match[0].switch()
    gdb.execute("maintenance flush register-cache", to_string=True)
    try:
        gdb.execute("info threads", to_string=True)  # forget the threads gone by now
        gdb.execute("frame", from_tty=False)
    except gdb.error:
        pass


class RewindGoto(gdb.Command):
    """Go to a point of the recording: rewind-goto EVENT|start|end.
EVENT is an event number as `rewind log` prints it; the replay stops just after it."""

    def __init__(self):
        super().__init__("rewind-goto", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if not arg:
            raise gdb.GdbError("rewind-goto needs an event number, start or end")
        info = gdb.execute("monitor goto " + arg, to_string=True)
        gdb.write(info)
        _refresh(info)


class RewindInfo(gdb.Command):
    """Show where the replay is: event, next event's thread and recorded time."""

    def __init__(self):
        super().__init__("rewind-info", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        gdb.write(gdb.execute("monitor info", to_string=True))


class RewindLast(gdb.Command):
    """Go back to where EXPR last changed: rewind-last EXPR.
Sets a watchpoint on EXPR's location, runs backwards to the write, and removes it."""

    def __init__(self):
        super().__init__("rewind-last", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if not arg:
            raise gdb.GdbError("rewind-last needs an expression, e.g. rewind-last job->name")
        before = {b.number for b in gdb.breakpoints()}
        gdb.execute("watch -location " + arg)
        new = [b for b in gdb.breakpoints() if b.number not in before]
        try:
            gdb.execute("reverse-continue")
        finally:
            for b in new:
                b.delete()


RewindGoto()
RewindInfo()
RewindLast()
)PY";

}  // namespace rwd
