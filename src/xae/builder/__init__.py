"""Source → image, the building half of the Code Center.

`upload.extract_upload` turns an uploaded archive into a source tree, safely; `detect.detect`
picks the build mode; `sourcefiles` is the one way to look at a file of the tree; `stacks.*`
render a Dockerfile per language; `build.build_image` runs the build and returns a `BuiltImage`;
`images` keeps the locally built base and stack images. Nothing here knows about apps' releases
or the store: callers record what a build produced.
"""
