#!/usr/bin/python3
"""A real RTSP IP camera for the tests: GStreamer's RTSP server from Debian.

Serves one live path with a moving test picture (H.264 or H.265) and a tone
(AAC), like a venue's camera, on a loopback port. Optional basic or digest
authentication. Prints one line `ready rtsp://127.0.0.1:PORT/PATH` on stdout
once it listens, then runs until SIGTERM/SIGINT (a camera that is switched
off). Starting it again with the same --port brings it back.

Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer
plugins (base, good, bad, ugly; libav for the fallback AAC encoder).
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# Video encoders Debian ships: x264enc (plugins-ugly), x265enc (plugins-bad).
# The parameter sets travel in band inside each keyframe's access unit, as
# IP cameras send them (a payloader that sends them as an access unit of
# their own makes FFmpeg see two keyframes a tick apart).
VIDEO = {
    "h264": (
        "x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} "
        "key-int-max={gop} option-string=scenecut=0 "
        "! video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96"
    ),
    "h265": (
        "x265enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} "
        "key-int-max={gop} option-string=scenecut=0:open-gop=0 "
        "! h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96"
    ),
}

# AAC encoders, first found wins: voaacenc (plugins-bad), avenc_aac (libav).
AAC_ENCODERS = ["voaacenc", "avenc_aac"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    p.add_argument("--path", default="/cam", help="the stream's path")
    p.add_argument("--codec", choices=sorted(VIDEO), default="h264")
    p.add_argument("--size", default="320x180", help="WIDTHxHEIGHT")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--keyframe", type=float, default=1.0, help="seconds between keyframes")
    p.add_argument("--kbps", type=int, default=400, help="video bitrate")
    p.add_argument("--audio", choices=["aac", "none"], default="aac")
    p.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    p.add_argument("--user", default="operator")
    p.add_argument("--password", default="")
    return p.parse_args()


def aac_encoder():
    for name in AAC_ENCODERS:
        if Gst.ElementFactory.find(name):
            return name
    sys.exit("no AAC encoder: install gstreamer1.0-plugins-bad or gstreamer1.0-libav")


def launch_line(args):
    width, height = (int(v) for v in args.size.lower().split("x"))
    gop = max(1, round(args.fps * args.keyframe))
    video = (
        f"videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={width},height={height},framerate={args.fps}/1,format=I420 ! "
        + VIDEO[args.codec].format(kbps=args.kbps, gop=gop)
    )
    parts = [video]
    if args.audio == "aac":
        parts.append(
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.2 "
            "! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 "
            f"! {aac_encoder()} bitrate=96000 ! aacparse ! rtpmp4gpay name=pay1 pt=97"
        )
    return "( " + " ".join(parts) + " )"


def auth_for(args, factory):
    if args.auth == "none":
        return None
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    if args.auth == "basic":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(args.user, args.password, token)
    factory.add_role_from_structure(
        Gst.Structure.new_from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    )
    return auth


def main():
    args = parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    # One encoder for every viewer, as a camera has.
    factory.set_shared(True)
    auth = auth_for(args, factory)
    if auth is not None:
        server.set_auth(auth)
    server.get_mount_points().add_factory(args.path, factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"ready rtsp://127.0.0.1:{server.get_bound_port()}{args.path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
