#!/usr/bin/env python3
"""The window manager's side of closing a window, for the E2E tests (Xvfb runs no window manager).

  x11.py close <pid>   sends WM_DELETE_WINDOW to the top-level windows of process <pid>, as a
                       window manager does when the user clicks the close button
  x11.py state <pid>   prints "viewable" when one of them is shown, else "hidden"

Plain ctypes over the system's libX11 (which GTK uses anyway): no extra package.
"""
import ctypes
import ctypes.util
import sys

X = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
Window = ctypes.c_ulong
Atom = ctypes.c_ulong


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("message_type", Atom),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]


class XWindowAttributes(ctypes.Structure):
    # Only map_state is read; the struct is sized generously.
    _fields_ = [
        ("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
        ("border_width", ctypes.c_int), ("depth", ctypes.c_int), ("visual", ctypes.c_void_p),
        ("root", Window), ("c_class", ctypes.c_int), ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int), ("map_state", ctypes.c_int),
        ("all_event_masks", ctypes.c_long), ("your_event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long), ("override_redirect", ctypes.c_int),
        ("screen", ctypes.c_void_p), ("pad", ctypes.c_long * 8),
    ]


X.XOpenDisplay.restype = ctypes.c_void_p
X.XOpenDisplay.argtypes = [ctypes.c_char_p]
X.XDefaultRootWindow.restype = Window
X.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
X.XInternAtom.restype = Atom
X.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
X.XQueryTree.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
                         ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint)]
X.XGetWindowProperty.argtypes = [ctypes.c_void_p, Window, Atom, ctypes.c_long, ctypes.c_long,
                                 ctypes.c_int, Atom, ctypes.POINTER(Atom), ctypes.POINTER(ctypes.c_int),
                                 ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong),
                                 ctypes.POINTER(ctypes.c_void_p)]
X.XGetWindowAttributes.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(XWindowAttributes)]
X.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
X.XFlush.argtypes = [ctypes.c_void_p]
X.XFree.argtypes = [ctypes.c_void_p]

display = X.XOpenDisplay(None)
if not display:
    sys.exit("cannot open the X display (DISPLAY unset?)")
NET_WM_PID = X.XInternAtom(display, b"_NET_WM_PID", 0)
WM_PROTOCOLS = X.XInternAtom(display, b"WM_PROTOCOLS", 0)
WM_DELETE_WINDOW = X.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
XA_CARDINAL = 6


def children(window):
    root, parent = Window(), Window()
    kids = ctypes.POINTER(Window)()
    n = ctypes.c_uint()
    if not X.XQueryTree(display, window, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids), ctypes.byref(n)):
        return []
    out = [kids[i] for i in range(n.value)]
    if kids:
        X.XFree(kids)
    return out


def pid_of(window):
    kind, fmt, count, after = Atom(), ctypes.c_int(), ctypes.c_ulong(), ctypes.c_ulong()
    data = ctypes.c_void_p()
    X.XGetWindowProperty(display, window, NET_WM_PID, 0, 1, 0, XA_CARDINAL, ctypes.byref(kind),
                         ctypes.byref(fmt), ctypes.byref(count), ctypes.byref(after), ctypes.byref(data))
    if not data.value:
        return None
    pid = ctypes.cast(data, ctypes.POINTER(ctypes.c_ulong))[0] if count.value else None
    X.XFree(data)
    return pid


def has_delete_protocol(window):
    kind, fmt, count, after = Atom(), ctypes.c_int(), ctypes.c_ulong(), ctypes.c_ulong()
    data = ctypes.c_void_p()
    X.XGetWindowProperty(display, window, WM_PROTOCOLS, 0, 32, 0, 4, ctypes.byref(kind),
                         ctypes.byref(fmt), ctypes.byref(count), ctypes.byref(after), ctypes.byref(data))
    if not data.value:
        return False
    atoms = ctypes.cast(data, ctypes.POINTER(ctypes.c_ulong))
    found = any(atoms[i] == WM_DELETE_WINDOW for i in range(count.value))
    X.XFree(data)
    return found


def windows_of(pid):
    return [w for w in children(X.XDefaultRootWindow(display)) if pid_of(w) == pid and has_delete_protocol(w)]


def viewable(window):
    attrs = XWindowAttributes()
    X.XGetWindowAttributes(display, window, ctypes.byref(attrs))
    return attrs.map_state == 2  # IsViewable


command, pid = sys.argv[1], int(sys.argv[2])
wins = windows_of(pid)
if command == "state":
    print("viewable" if any(viewable(w) for w in wins) else "hidden")
elif command == "close":
    shown = [w for w in wins if viewable(w)]
    if not shown:
        sys.exit(f"process {pid} shows no window to close")
    for w in shown:
        event = XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = w
        event.xclient.message_type = WM_PROTOCOLS
        event.xclient.format = 32
        event.xclient.data[0] = WM_DELETE_WINDOW
        event.xclient.data[1] = 0  # CurrentTime
        X.XSendEvent(display, w, 0, 0, ctypes.byref(event))
    X.XFlush(display)
    print(f"closed {len(shown)}")
else:
    sys.exit(__doc__)
