"""Camera photos in, a panorama timelapse with true frame times out.

The front of the pipeline (docs/camera.md): photos of a camera (or several, one site) are
read with their times, stitched into one panorama per instant with a registration made once
per camera, and streamed into a day's H.264 timelapse whose ``frames.json`` sidecar keeps
each frame's real time (:mod:`smokewatch.camera.timelapse`, :mod:`smokewatch.core.frame_times`).

A wing beside ``clips``: it uses ``video``, ``core`` and OpenCV, never ``clips``; which
frames are daytime is passed in as a predicate the command line builds from
``clips.daylight``.
"""
